package clientauth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/store"
)

func TestSecret(t *testing.T) {
	meta := newStore(t)
	ctx := context.Background()
	c := clientauth.NewChecker(meta)
	appID, current, expired := application(t, meta, "tenant-a", "tenant-a")
	foreign, foreignSecret, _ := application(t, meta, "tenant-b", "tenant-b")

	client, err := c.Secret(ctx, "tenant-a", appID, current, "10.0.0.1")
	if err != nil || client.Application.AppID != appID || client.ServicePrincipal.TenantID != "tenant-a" {
		t.Fatalf("the current secret: %+v, %v", client, err)
	}
	for _, tc := range []struct {
		name, tenant, app, secret string
		want                      error
	}{
		{"wrong secret", "tenant-a", appID, "not-it", clientauth.ErrInvalidSecret},
		{"empty secret", "tenant-a", appID, "", clientauth.ErrInvalidSecret},
		{"expired secret", "tenant-a", appID, expired, clientauth.ErrSecretExpired},
		{"unknown application", "tenant-a", ids.New(), current, clientauth.ErrApplicationNotFound},
		{"no service principal in the tenant", "tenant-a", foreign, foreignSecret, clientauth.ErrNoServicePrincipal},
	} {
		if _, err := c.Secret(ctx, tc.tenant, tc.app, tc.secret, "10.0.0.1"); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if !errors.Is(clientauth.ErrNoServicePrincipal, clientauth.ErrApplicationNotFound) {
		t.Error("no service principal in the tenant is not also 'application not found' for the tenant")
	}
}

// Wrong secrets from one source slow down that source only: the right
// secret sent from elsewhere is not delayed (issue: anyone who knew a
// client id could slow its tokens).
func TestThrottleIsPerSource(t *testing.T) {
	meta := newStore(t)
	ctx := context.Background()
	c := clientauth.NewChecker(meta)
	appID, current, _ := application(t, meta, "tenant-a", "tenant-a")
	for i := 0; i < clientauth.FreeFailures(c)+3; i++ {
		if _, err := c.Secret(ctx, "tenant-a", appID, "guess", "192.0.2.66"); !errors.Is(err, clientauth.ErrInvalidSecret) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if d := clientauth.Wait(c, appID, "192.0.2.66"); d == 0 {
		t.Fatal("the guesser's next attempt is not delayed")
	}
	if d := clientauth.Wait(c, appID, "10.0.0.1"); d != 0 {
		t.Fatalf("the application's own source is delayed %v by another's guesses", d)
	}
	if _, err := c.Secret(ctx, "tenant-a", appID, current, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
}

// A managed identity's client id finds the identity in its own tenant,
// standing as its own application; it has no secret to check.
func TestFindManagedIdentity(t *testing.T) {
	meta := newStore(t)
	ctx := context.Background()
	c := clientauth.NewChecker(meta)
	application(t, meta, "tenant-b", "tenant-b")
	mi := store.ServicePrincipal{ObjectID: ids.New(), TenantID: "tenant-a", AppID: ids.New(), AppOwnerTenantID: "tenant-a",
		Type: store.PrincipalManagedIdentity, DisplayName: "pods", CreatedAt: time.Now().UTC()}
	must(t, meta.CreateServicePrincipal(ctx, mi))

	client, err := c.Find(ctx, "tenant-a", mi.AppID)
	if err != nil || client.ServicePrincipal.ObjectID != mi.ObjectID || client.Application.ObjectID != mi.ObjectID || client.Application.AppID != mi.AppID {
		t.Fatalf("Find(managed identity) = %+v, %v", client, err)
	}
	if _, err := c.Find(ctx, "tenant-b", mi.AppID); !errors.Is(err, clientauth.ErrApplicationNotFound) {
		t.Errorf("a managed identity found outside its tenant: %v", err)
	}
	if _, err := c.Secret(ctx, "tenant-a", mi.AppID, "anything", "10.0.0.1"); !errors.Is(err, clientauth.ErrInvalidSecret) {
		t.Errorf("a managed identity authenticated with a secret: %v", err)
	}
}
