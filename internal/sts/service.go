package sts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/jws"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/store"
)

// Service issues tokens.
type Service struct {
	Directory store.Directory
	// Machines finds virtual machines for the managed-identity grant.
	Machines MachineStore
	Keys     *keys.Ring
	// Clients checks client secrets, as it does for every surface.
	Clients *clientauth.Checker
	// Issuers verifies the tokens of other issuers that federated
	// identity credentials trust.
	Issuers *federation.Issuers
	// Lifetime of an access token.
	Lifetime time.Duration
}

// DefaultLifetime is the cloud's: an hour, reported as 3599 seconds.
const DefaultLifetime = 3599 * time.Second

// ClientCredentials is a client credentials grant.
type ClientCredentials struct {
	// Tenant is the tenant in the URL: an id or a domain name.
	Tenant       string
	ClientID     string
	ClientSecret string
	// ClientAssertionType and ClientAssertion authenticate with a JWT
	// signed by a certificate credential instead of a secret.
	ClientAssertionType string
	ClientAssertion     string
	// Resource is the audience asked for (v1 resource, or the v2 scope
	// without /.default).
	Resource string
	// Authority is the scheme and host the client used
	// ("https://host:port"): issuers are built from it, because the
	// SDKs check that the issuer is on the host they asked.
	Authority string
	// V2 is set for the v2.0 endpoint, which shapes the response only.
	V2 bool
	// Source is where the request came from, for the wrong-secret
	// throttle (clientauth.SourceOf).
	Source string
}

// Token is an issued access token.
type Token struct {
	AccessToken string
	Version     string
	Resource    string
	IssuedAt    time.Time
	ExpiresAt   time.Time
}

// ResolveTenant finds a tenant by id or domain.
func (s *Service) ResolveTenant(ctx context.Context, ref string) (store.Tenant, error) {
	t, err := s.Directory.GetTenant(ctx, strings.ToLower(ref))
	if errors.Is(err, store.ErrNotFound) {
		t, err = s.Directory.GetTenantByDomain(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return t, ErrTenantNotFound
	}
	return t, err
}

// Issue runs a client credentials grant.
func (s *Service) Issue(ctx context.Context, req ClientCredentials) (Token, error) {
	if req.ClientID == "" {
		return Token{}, missing("client_id")
	}
	tenant, err := s.ResolveTenant(ctx, req.Tenant)
	if err != nil {
		return Token{}, err
	}
	res, ok := LookupResource(req.Resource)
	if !ok {
		return Token{}, ErrResourceNotFound
	}
	now := time.Now()
	// acr is how the application authenticated, as appidacr/azpacr say
	// it: "1" a secret, "2" a certificate.
	var client clientauth.Client
	var acr string
	switch {
	case req.ClientAssertion != "" || req.ClientAssertionType != "":
		// The application authenticates with its home tenant's
		// credentials, but only where it has a service principal.
		if client, err = s.Clients.Find(ctx, tenant.ID, req.ClientID); err == nil {
			err = s.checkAssertion(ctx, req, tenant, client.Application, now)
		}
		acr = "2"
	case req.ClientSecret != "":
		client, err = s.Clients.Secret(ctx, tenant.ID, req.ClientID, req.ClientSecret, req.Source)
		acr = "1"
	default:
		if _, err := s.Clients.Find(ctx, tenant.ID, req.ClientID); err != nil {
			return Token{}, err
		}
		return Token{}, missing("client_assertion' or 'client_secret")
	}
	if err != nil {
		return Token{}, err
	}
	return s.sign(ctx, req, tenant, client.Application, client.ServicePrincipal, res, acr, now, nil)
}

func (s *Service) sign(ctx context.Context, req ClientCredentials, tenant store.Tenant, app store.Application, sp store.ServicePrincipal, res Resource, acr string, now time.Time, extra map[string]any) (Token, error) {
	key, err := s.Keys.Signing(ctx, now)
	if err != nil {
		return Token{}, err
	}
	lifetime := s.Lifetime
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	exp := now.Add(lifetime)
	issuerV1 := req.Authority + "/" + tenant.ID + "/"
	claims := map[string]any{
		"aud":   req.Resource,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   exp.Unix(),
		"oid":   sp.ObjectID,
		"sub":   sp.ObjectID,
		"tid":   tenant.ID,
		"ver":   res.Version,
		"uti":   randomID(16),
		"rh":    "0." + randomID(32) + ".",
		"idp":   issuerV1,
		"idtyp": "app",
	}
	header := map[string]any{}
	for k, v := range extra {
		claims[k] = v
	}
	if res.Version == "1.0" {
		claims["iss"] = issuerV1
		claims["appid"] = app.AppID
		claims["appidacr"] = acr
		header["x5t"] = key.ID
	} else {
		claims["iss"] = req.Authority + "/" + tenant.ID + "/v2.0"
		claims["azp"] = app.AppID
		claims["azpacr"] = acr
	}
	tok, err := jws.Sign(key, header, claims)
	if err != nil {
		return Token{}, err
	}
	return Token{AccessToken: tok, Version: res.Version, Resource: req.Resource, IssuedAt: now, ExpiresAt: exp}, nil
}

type missingError struct{ param string }

func (e missingError) Error() string { return "missing parameter " + e.param }
func (e missingError) Unwrap() error { return ErrMissingParameter }

func missing(param string) error { return missingError{param} }

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
