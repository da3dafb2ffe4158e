package clientauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/registryauth"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/sts"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// The token service, a registry's Basic credentials and a cluster's new
// service principal ask the same question; for each kind of credential
// they must give the same answer.
func TestSurfacesAgree(t *testing.T) {
	ctx := context.Background()
	meta := newStore(t)
	ring := &keys.Ring{Store: meta, MaxTokenLifetime: 24 * time.Hour}
	must(t, ring.Ensure(ctx))
	clients := clientauth.NewChecker(meta)
	engine := &authz.Engine{Store: meta}
	tokens := &sts.Service{Directory: meta, Keys: ring, Clients: clients, Lifetime: time.Hour}
	cp := &controlplane.Service{Store: meta, Authz: engine, Clients: clients, RegistrySuffix: "cr.test",
		Audit: &audit.Trail{Store: meta, Log: slog.New(slog.DiscardHandler)}}
	registries := &registryauth.Service{Store: meta, Authz: engine, Keys: ring, Directory: tokens, Clients: clients, Suffix: "cr.test"}

	now := time.Now()
	for _, tid := range []string{"tenant-a", "tenant-b"} {
		must(t, meta.CreateSubscription(ctx, store.Subscription{ID: "sub-" + tid, TenantID: tid, CreatedAt: now}))
	}
	sub, err := meta.GetSubscription(ctx, "sub-tenant-a")
	must(t, err)
	_, err = cp.EnsureRegistry(ctx, sub, "g", "here", "myregistry")
	must(t, err)
	reg, err := registries.Registry(ctx, "myregistry")
	must(t, err)

	owner := controlplane.Caller{TenantID: "tenant-a", ObjectID: ids.New()}
	must(t, meta.CreateRoleAssignment(ctx, store.RoleAssignment{ID: ids.New(), Scope: "/subscriptions/sub-tenant-a", RoleDefinitionID: authz.Owner,
		PrincipalID: owner.ObjectID, PrincipalType: "ServicePrincipal", TenantID: "tenant-a", CreatedAt: now}))
	appID, current, expired := application(t, meta, "tenant-a", "tenant-a")
	foreign, foreignSecret, _ := application(t, meta, "tenant-b", "tenant-b")
	cluster := resourceid.Resource(sub.ID, "g", resourcetype.ManagedCluster, "c1")
	props, _ := json.Marshal(map[string]any{"dnsPrefix": "c1", "servicePrincipalProfile": map[string]string{"clientId": appID, "secret": current}})
	_, _, err = cp.PutResource(ctx, owner, cluster, controlplane.ResourceInput{Location: "here", Properties: props})
	must(t, err)

	for _, tc := range []struct {
		name, app, secret string
		ok                bool
		// what each surface says, in its own words
		token, registry, management string
	}{
		{name: "current secret", app: appID, secret: current, ok: true},
		{"wrong secret", appID, "not-it", false, "invalid client secret", "invalid username or password", "not a current client secret"},
		{"expired secret", appID, expired, false, "expired", "expired", "expired"},
		{"unknown application", ids.New(), current, false, "application not found", "invalid username or password", "was not found"},
		{"another tenant's application, not consented", foreign, foreignSecret, false, "application not found", "no service principal", "no service principal"},
	} {
		_, tokErr := tokens.Issue(ctx, sts.ClientCredentials{Tenant: "tenant-a", ClientID: tc.app, ClientSecret: tc.secret,
			Resource: "https://management.azure.com/", Authority: "https://login.test", Source: "10.0.0.1"})
		_, regErr := registries.Basic(ctx, reg, tc.app, tc.secret, "10.0.0.1")
		mgmtErr := cp.ResetServicePrincipal(ctx, owner, cluster, tc.app, tc.secret)
		for surface, got := range map[string]struct {
			err  error
			want string
		}{"token service": {tokErr, tc.token}, "registry": {regErr, tc.registry}, "management API": {mgmtErr, tc.management}} {
			switch {
			case tc.ok && got.err != nil:
				t.Errorf("%s: the %s refused: %v", tc.name, surface, got.err)
			case !tc.ok && got.err == nil:
				t.Errorf("%s: the %s accepted it", tc.name, surface)
			case !tc.ok && !strings.Contains(errorText(got.err), got.want):
				t.Errorf("%s: the %s said %q, want it to say %q", tc.name, surface, errorText(got.err), got.want)
			}
		}
	}
}

func errorText(err error) string {
	var cpErr *controlplane.Error
	if errors.As(err, &cpErr) {
		return cpErr.Message
	}
	return err.Error()
}

// newStore is a real store with tenants tenant-a and tenant-b.
func newStore(t *testing.T) store.Store {
	t.Helper()
	meta, _ := stores.New(t)
	for _, tid := range []string{"tenant-a", "tenant-b"} {
		must(t, meta.CreateTenant(context.Background(), store.Tenant{ID: tid, Domain: tid + ".example", CreatedAt: time.Now()}))
	}
	return meta
}

// application makes an application of tenant home, with a service
// principal in each of inTenants, a current secret and an expired one.
func application(t *testing.T, meta store.Store, home string, inTenants ...string) (appID, current, expired string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	a := store.Application{ObjectID: ids.New(), AppID: ids.New(), TenantID: home, DisplayName: "app", SignInAudience: "AzureADMultipleOrgs", CreatedAt: now}
	must(t, meta.CreateApplication(ctx, a))
	current, expired = secret.Generate(), secret.Generate()
	for s, end := range map[string]time.Time{current: now.Add(time.Hour), expired: now.Add(-time.Minute)} {
		salt, sum := secret.Hash(s)
		must(t, meta.AddPasswordCredential(ctx, store.PasswordCredential{KeyID: ids.New(), AppObjectID: a.ObjectID, Salt: salt, Hash: sum,
			StartDateTime: now.Add(-time.Hour), EndDateTime: end}))
	}
	for _, tid := range inTenants {
		must(t, meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: ids.New(), TenantID: tid, AppID: a.AppID,
			AppOwnerTenantID: home, Type: store.PrincipalApplication, DisplayName: "app", CreatedAt: now}))
	}
	return a.AppID, current, expired
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
