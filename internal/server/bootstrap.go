package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/pki"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
)

// BootstrapFile is written to the data directory, readable only by its
// owner: it holds the bootstrap administrator's secret and the first
// user's password.
const BootstrapFile = "bootstrap.json"

// Bootstrap is the content of bootstrap.json.
type Bootstrap struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	Registry       string `json:"registry"`
	LoginServer    string `json:"loginServer"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	URL            string `json:"url"`
	// AdminUser and AdminPassword sign a person in to the portal: the
	// bootstrap tenant's first user, a Global Administrator and Owner of
	// the subscription. The password is the first one; a new one the
	// user chooses is not written here.
	AdminUser     string `json:"adminUser,omitempty"`
	AdminPassword string `json:"adminPassword,omitempty"`
}

// bootstrapRecord is what the metadata store keeps: the same ids, never
// the secret.
type bootstrapRecord struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	Registry       string `json:"registry"`
	AppObjectID    string `json:"appObjectId"`
	ClientID       string `json:"clientId"`
	AdminUserID    string `json:"adminUserId,omitempty"`
}

const bootstrapKey = "bootstrap"

// ensureBootstrap creates the bootstrap tenant, subscription, administrator
// and default registry on first start, and rewrites bootstrap.json when it
// changed (the URL may). If the file was lost, the administrator gets a
// new secret: the old one cannot be recovered from its hash. On a full
// disk, a start that needs to write nothing new succeeds.
func ensureBootstrap(ctx context.Context, meta store.Store, cp *controlplane.Service, cfg Config, url string, log *slog.Logger) (Bootstrap, error) {
	path := filepath.Join(cfg.DataDir, BootstrapFile)
	var rec bootstrapRecord
	var fresh, freshPassword string // the administrator's secret and the user's password, when made
	raw, err := meta.GetSetting(ctx, bootstrapKey)
	if errors.Is(err, store.ErrNotFound) {
		// Replicas starting together on a new store take turns: the
		// first makes the bootstrap tenant, the others find its record.
		release, lerr := takeLease(ctx, meta, bootstrapKey)
		if lerr != nil {
			return Bootstrap{}, fmt.Errorf("bootstrap: %w", lerr)
		}
		defer release()
		raw, err = meta.GetSetting(ctx, bootstrapKey)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec, fresh, freshPassword, err = createBootstrap(ctx, meta, cp)
		if err != nil {
			return Bootstrap{}, err
		}
	case err != nil:
		return Bootstrap{}, err
	default:
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return Bootstrap{}, fmt.Errorf("bootstrap record: %w", err)
		}
		// Data directories made before directory roles, role assignments
		// or registry resources existed: the bootstrap administrator
		// still administers its tenant and owns its subscription, and
		// the default registry is a resource.
		sp, err := meta.GetServicePrincipalByAppID(ctx, rec.TenantID, rec.ClientID)
		if err == nil {
			err = meta.AddDirectoryRole(ctx, rec.TenantID, sp.ObjectID, store.RoleGlobalAdministrator)
		}
		if err == nil {
			err = controlplane.EnsureOwner(ctx, meta, rec.TenantID, rec.SubscriptionID, sp.ObjectID, controlplane.PrincipalTypeServicePrincipal)
		}
		if err == nil {
			err = ensureDefaultRegistry(ctx, cp, rec)
		}
		if err != nil {
			return Bootstrap{}, fmt.Errorf("bootstrap administrator: %w", err)
		}
		// Data directories made before the portal: the tenant gets its
		// first user now.
		if rec.AdminUserID == "" {
			freshPassword, err = createAdminUser(ctx, meta, &rec)
			switch {
			case errors.Is(err, store.ErrExists):
				log.Warn("the bootstrap tenant has a user named " + adminUserName + " already, so no first user was made for the portal")
			case err != nil:
				return Bootstrap{}, fmt.Errorf("bootstrap user: %w", err)
			default:
				data, _ := json.Marshal(rec)
				if err := meta.PutSetting(ctx, bootstrapKey, string(data)); err != nil {
					return Bootstrap{}, err
				}
			}
		}
	}
	b := Bootstrap{
		TenantID: rec.TenantID, SubscriptionID: rec.SubscriptionID, Registry: rec.Registry,
		LoginServer: cp.LoginServer(rec.Registry), ClientID: rec.ClientID, URL: url,
	}
	var old Bootstrap
	if fresh != "" {
		b.ClientSecret = fresh
	} else if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &old) == nil && old.ClientID == rec.ClientID && old.ClientSecret != "" {
		b.ClientSecret = old.ClientSecret
	} else {
		if b.ClientSecret, err = addSecret(ctx, meta, rec.AppObjectID, "bootstrap"); err != nil {
			return Bootstrap{}, err
		}
	}
	if b.AdminUser, b.AdminPassword, err = adminPassword(ctx, meta, rec, freshPassword, old); err != nil {
		return Bootstrap{}, err
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return Bootstrap{}, err
	}
	data = append(data, '\n')
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return b, nil
	}
	err = pki.WriteFileAtomic(path, data, 0o600)
	if err != nil && b.ClientSecret == old.ClientSecret && (dataDisk{cfg.DataDir}).readOnly() != "" {
		// The file still holds the administrator's credentials; only
		// the address it names is stale.
		log.Warn("bootstrap.json not updated: the disk is full", "url", url, "err", err)
		return b, nil
	}
	return b, err
}

// bootstrapLeaseTTL is how long a replica that died while bootstrapping
// keeps the others waiting; they then bootstrap from scratch.
const bootstrapLeaseTTL = time.Minute

// takeLease waits for the named lease, and returns its release.
func takeLease(ctx context.Context, meta store.Collector, name string) (release func(), err error) {
	holder := ids.New()
	for {
		ok, err := meta.AcquireLease(ctx, name, holder, bootstrapLeaseTTL)
		if err != nil {
			return nil, err
		}
		if ok {
			return func() { meta.ReleaseLease(context.WithoutCancel(ctx), name, holder) }, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TenantAdmin is a new tenant with its subscription and administrator.
type TenantAdmin struct {
	TenantID       string `json:"tenantId"`
	Domain         string `json:"domain"`
	SubscriptionID string `json:"subscriptionId"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret,omitempty"`
	appObjectID    string
}

// CreateTenant makes a tenant (domain: "<first 8 of its id>.berth.localhost"
// if empty), a subscription in it, and an administrator: an application
// with a service principal and a client secret, which will be Owner of the
// subscription and administrator of the tenant. The secret is returned
// once and kept only as a hash.
func CreateTenant(ctx context.Context, meta store.Store, displayName, domain string) (TenantAdmin, error) {
	now := time.Now().UTC()
	// Domain names are case-insensitive; kept lower-case, they are unique.
	a := TenantAdmin{TenantID: ids.New(), SubscriptionID: ids.New(), ClientID: ids.New(), Domain: strings.ToLower(domain), appObjectID: ids.New()}
	if a.Domain == "" {
		a.Domain = a.TenantID[:8] + ".berth.localhost"
	}
	admin := displayName + " administrator"
	spID := ids.New()
	steps := []func() error{
		func() error {
			return meta.CreateTenant(ctx, store.Tenant{ID: a.TenantID, Domain: a.Domain, DisplayName: displayName, CreatedAt: now})
		},
		func() error {
			return meta.CreateSubscription(ctx, store.Subscription{ID: a.SubscriptionID, TenantID: a.TenantID, DisplayName: displayName + " subscription", CreatedAt: now})
		},
		func() error {
			return meta.CreateApplication(ctx, store.Application{ObjectID: a.appObjectID, AppID: a.ClientID, TenantID: a.TenantID, DisplayName: admin, SignInAudience: "AzureADMyOrg", CreatedAt: now})
		},
		func() error {
			return meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: spID, TenantID: a.TenantID, AppID: a.ClientID, AppOwnerTenantID: a.TenantID, Type: store.PrincipalApplication, DisplayName: admin, CreatedAt: now})
		},
		func() error {
			return meta.AddDirectoryRole(ctx, a.TenantID, spID, store.RoleGlobalAdministrator)
		},
		func() error {
			return controlplane.EnsureOwner(ctx, meta, a.TenantID, a.SubscriptionID, spID, controlplane.PrincipalTypeServicePrincipal)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return a, fmt.Errorf("creating tenant: %w", err)
		}
	}
	var err error
	a.ClientSecret, err = addSecret(ctx, meta, a.appObjectID, "administrator")
	return a, err
}

// The default registry's resource group and location.
const (
	bootstrapGroup    = "berth"
	bootstrapLocation = "local"
)

func ensureDefaultRegistry(ctx context.Context, cp *controlplane.Service, rec bootstrapRecord) error {
	sub, err := cp.Store.GetSubscription(ctx, rec.SubscriptionID)
	if err == nil {
		_, err = cp.EnsureRegistry(ctx, sub, bootstrapGroup, bootstrapLocation, rec.Registry)
	}
	return err
}

func createBootstrap(ctx context.Context, meta store.Store, cp *controlplane.Service) (rec bootstrapRecord, secret, password string, err error) {
	a, err := CreateTenant(ctx, meta, "Bootstrap tenant", "")
	if err != nil {
		return rec, "", "", fmt.Errorf("bootstrap: %w", err)
	}
	rec = bootstrapRecord{
		TenantID: a.TenantID, SubscriptionID: a.SubscriptionID, Registry: DefaultRegistryName,
		AppObjectID: a.appObjectID, ClientID: a.ClientID,
	}
	if err := ensureDefaultRegistry(ctx, cp, rec); err != nil {
		return rec, "", "", fmt.Errorf("bootstrap: %w", err)
	}
	if password, err = createAdminUser(ctx, meta, &rec); err != nil {
		return rec, "", "", fmt.Errorf("bootstrap: %w", err)
	}
	// The record is written last: a start that fails half-way is redone
	// from scratch with new ids rather than half-reused.
	data, _ := json.Marshal(rec)
	return rec, a.ClientSecret, password, meta.PutSetting(ctx, bootstrapKey, string(data))
}

// adminUserName is the first user's name in the bootstrap tenant.
const adminUserName = "admin"

// createAdminUser makes the bootstrap tenant's first person, who signs in
// to the portal: a Global Administrator of the tenant and Owner of its
// subscription, as the bootstrap application is. It returns the user's
// password, generated (256 bits) and kept only as a hash.
func createAdminUser(ctx context.Context, meta store.Store, rec *bootstrapRecord) (string, error) {
	t, err := meta.GetTenant(ctx, rec.TenantID)
	if err != nil {
		return "", err
	}
	pw := secret.Generate()
	hash, err := password.Hash(pw)
	if err != nil {
		return "", err
	}
	u := store.User{ObjectID: ids.New(), TenantID: t.ID, UserPrincipalName: adminUserName + "@" + t.Domain,
		DisplayName: "Administrator", PasswordHash: hash, CreatedAt: time.Now().UTC()}
	if err := meta.CreateUser(ctx, u); err != nil {
		return "", err
	}
	if err := meta.AddDirectoryRole(ctx, t.ID, u.ObjectID, store.RoleGlobalAdministrator); err != nil {
		return "", err
	}
	if err := controlplane.EnsureOwner(ctx, meta, t.ID, rec.SubscriptionID, u.ObjectID, controlplane.PrincipalTypeUser); err != nil {
		return "", err
	}
	rec.AdminUserID = u.ObjectID
	return pw, nil
}

// adminPassword is the first user's name and password for bootstrap.json:
// fresh, made just now; else the one the file already holds; else, the
// file having been lost, a new one (the old cannot be recovered from its
// hash). A user deleted since is named no more.
func adminPassword(ctx context.Context, meta store.Directory, rec bootstrapRecord, fresh string, old Bootstrap) (upn, pw string, err error) {
	if rec.AdminUserID == "" {
		return "", "", nil
	}
	u, err := meta.GetUser(ctx, rec.AdminUserID)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	switch {
	case fresh != "":
		return u.UserPrincipalName, fresh, nil
	case old.AdminUser == u.UserPrincipalName && old.AdminPassword != "":
		return u.UserPrincipalName, old.AdminPassword, nil
	}
	pw = secret.Generate()
	hash, err := password.Hash(pw)
	if err == nil {
		err = meta.UpdateUser(ctx, u.ObjectID, store.UserUpdate{PasswordHash: &hash})
	}
	return u.UserPrincipalName, pw, err
}

func addSecret(ctx context.Context, meta store.Directory, appObjectID, name string) (string, error) {
	s := secret.Generate()
	salt, sum := secret.Hash(s)
	now := time.Now().UTC()
	err := meta.AddPasswordCredential(ctx, store.PasswordCredential{
		KeyID: ids.New(), AppObjectID: appObjectID, DisplayName: name, Hint: secret.Hint(s),
		Salt: salt, Hash: sum, StartDateTime: now.Add(-time.Minute), EndDateTime: now.AddDate(100, 0, 0),
	})
	return s, err
}
