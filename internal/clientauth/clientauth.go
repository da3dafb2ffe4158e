package clientauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/throttle"
)

// Why a client did not authenticate.
var (
	ErrApplicationNotFound = errors.New("application not found in the directory")
	// ErrNoServicePrincipal is an application with no service principal
	// in the tenant: another tenant's application that nobody there
	// consented to. For the tenant, the application is not in its
	// directory, so it is also ErrApplicationNotFound.
	ErrNoServicePrincipal = fmt.Errorf("%w: it has no service principal in the tenant", ErrApplicationNotFound)
	ErrInvalidSecret      = errors.New("invalid client secret provided")
	ErrSecretExpired      = errors.New("the client secrets are expired")
)

// Directory is what the checks read.
type Directory interface {
	GetApplicationByAppID(ctx context.Context, appID string) (store.Application, error)
	GetServicePrincipalByAppID(ctx context.Context, tenantID, appID string) (store.ServicePrincipal, error)
	ListPasswordCredentials(ctx context.Context, appObjectID string) ([]store.PasswordCredential, error)
}

// Checker checks client credentials. Share one per process: it holds the
// record of wrong secrets.
type Checker struct {
	Directory Directory

	guard throttle.Failures
}

// NewChecker returns a checker reading dir. Past five wrong secrets in a
// minute, an application's attempts from one source wait 100 ms, twice as
// long after each further one, up to 10 s.
func NewChecker(dir Directory) *Checker {
	return &Checker{Directory: dir, guard: throttle.Failures{Free: 5, Window: time.Minute, First: 100 * time.Millisecond, Max: 10 * time.Second}}
}

// Client is an application as it acts in one tenant.
type Client struct {
	Application      store.Application
	ServicePrincipal store.ServicePrincipal
	// SecretKeyID names the password credential the client proved, for
	// what is minted from it to be tied to that one secret.
	SecretKeyID string
}

// Find looks up the application clientID and its service principal in
// tenantID, before any credential is checked.
//
// A user-assigned managed identity's client id finds the identity in its
// own tenant. It has no application: the one Find gives stands for the
// identity, named by its service principal's object id, which owns its
// federated credentials, its only credentials (it has no secret or
// certificate).
func (c *Checker) Find(ctx context.Context, tenantID, clientID string) (Client, error) {
	app, err := c.Directory.GetApplicationByAppID(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return c.findIdentity(ctx, tenantID, clientID)
	}
	if err != nil {
		return Client{}, err
	}
	sp, err := c.Directory.GetServicePrincipalByAppID(ctx, tenantID, app.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return Client{}, ErrNoServicePrincipal
	}
	if err != nil {
		return Client{}, err
	}
	return Client{Application: app, ServicePrincipal: sp}, nil
}

func (c *Checker) findIdentity(ctx context.Context, tenantID, clientID string) (Client, error) {
	sp, err := c.Directory.GetServicePrincipalByAppID(ctx, tenantID, clientID)
	if errors.Is(err, store.ErrNotFound) || err == nil && sp.Type != store.PrincipalManagedIdentity {
		return Client{}, ErrApplicationNotFound
	}
	if err != nil {
		return Client{}, err
	}
	app := store.Application{ObjectID: sp.ObjectID, AppID: sp.AppID, TenantID: sp.TenantID, DisplayName: sp.DisplayName, CreatedAt: sp.CreatedAt}
	return Client{Application: app, ServicePrincipal: sp}, nil
}

// Secret authenticates clientID in tenantID with a client secret. source
// says where the attempt comes from (the caller's network address, or the
// principal acting for it): it keys the throttle.
func (c *Checker) Secret(ctx context.Context, tenantID, clientID, given, source string) (Client, error) {
	client, err := c.Find(ctx, tenantID, clientID)
	if err != nil {
		return Client{}, err
	}
	key := client.Application.AppID + "\x00" + source
	if err := c.guard.Sleep(ctx, key); err != nil {
		return Client{}, err
	}
	now := time.Now()
	client.SecretKeyID, err = c.checkSecret(ctx, client.Application, given, now)
	switch {
	case errors.Is(err, ErrInvalidSecret):
		c.guard.Failed(key, now)
	case err == nil:
		c.guard.Succeeded(key)
	}
	if err != nil {
		return Client{}, err
	}
	return client, nil
}

func (c *Checker) checkSecret(ctx context.Context, app store.Application, given string, now time.Time) (keyID string, err error) {
	if given == "" {
		return "", ErrInvalidSecret
	}
	creds, err := c.Directory.ListPasswordCredentials(ctx, app.ObjectID)
	if err != nil {
		return "", err
	}
	for _, cred := range creds {
		if !secret.Verify(given, cred.Salt, cred.Hash) {
			continue
		}
		if !Current(cred, now) {
			return "", ErrSecretExpired
		}
		return cred.KeyID, nil
	}
	return "", ErrInvalidSecret
}

// SecretCurrent reports whether the application still has the password
// credential keyID, and it is current: what a token minted from that
// secret is checked against when it is used again.
func (c *Checker) SecretCurrent(ctx context.Context, appObjectID, keyID string, now time.Time) (bool, error) {
	creds, err := c.Directory.ListPasswordCredentials(ctx, appObjectID)
	if err != nil {
		return false, err
	}
	for _, cred := range creds {
		if cred.KeyID == keyID {
			return Current(cred, now), nil
		}
	}
	return false, nil
}

// Current reports whether a secret is within its validity at now.
func Current(cred store.PasswordCredential, now time.Time) bool {
	return !now.Before(cred.StartDateTime) && !now.After(cred.EndDateTime)
}

// SourceOf is where a request comes from, as the throttle keys attempts:
// the peer's address without its port.
func SourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
