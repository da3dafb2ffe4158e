package registryauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/jws"
	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/sts"
)

// Access is one entry of an access token's access claim.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// What a registry token is for, in its grant_type claim.
const (
	grantRefresh = "refresh_token"
	grantAccess  = "access_token"
)

// claims are a registry token's. Their JSON holds nothing but GUIDs,
// host names, repository names and fixed words: none of those has the
// characters ('?', '~') whose place in base64url would differ from base64,
// so clients that decode the payload as standard base64 read it too.
type claims struct {
	JTI       string   `json:"jti"`
	Subject   string   `json:"sub"`
	Kind      string   `json:"identity_type"`
	NotBefore int64    `json:"nbf"`
	Expires   int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	Issuer    string   `json:"iss"`
	Audience  string   `json:"aud"`
	Version   string   `json:"version"`
	GrantType string   `json:"grant_type"`
	Tenant    string   `json:"tenant"`
	Registry  string   `json:"registry_instance"`
	Access    []Access `json:"access,omitempty"`
	// Origin, on refresh tokens, is the credential they were minted from.
	Origin string `json:"origin,omitempty"`
}

func (c claims) identity() Identity {
	id := Identity{Kind: c.Kind, Origin: c.Origin}
	if c.Kind == KindPrincipal {
		id.PrincipalID = c.Subject
	}
	return id
}

func (s *Service) lifetime(grant string) time.Duration {
	if grant == grantRefresh {
		if s.RefreshLifetime > 0 {
			return s.RefreshLifetime
		}
		return DefaultRefreshLifetime
	}
	if s.AccessLifetime > 0 {
		return s.AccessLifetime
	}
	return DefaultAccessLifetime
}

func (s *Service) issue(ctx context.Context, vs versions, reg Registry, id Identity, grant string, access []Access) (string, time.Time, error) {
	return s.issueUntil(ctx, vs, reg, id, grant, access, time.Time{})
}

// issueUntil issues a token that expires after its lifetime or at
// notAfter, whichever comes first (a zero notAfter: its lifetime). It
// hands out again a token issued for the same request at the same
// versions vs, when there is one that expires no later (see reuse.go).
func (s *Service) issueUntil(ctx context.Context, vs versions, reg Registry, id Identity, grant string, access []Access, notAfter time.Time) (string, time.Time, error) {
	now := time.Now()
	lifetime := s.lifetime(grant)
	exp := now.Add(lifetime)
	cut := !notAfter.IsZero() && notAfter.Before(exp)
	if cut {
		exp = notAfter
	}
	key, err := s.Keys.Signing(ctx, now)
	if err != nil {
		return "", exp, err
	}
	var k [32]byte
	if vs.ok {
		k = reuseKey(vs, key.ID, reg, id, grant, access)
		if t, hit := s.issued.Get(k, 0, now); hit && !t.exp.After(exp) {
			return t.token, t.exp, nil
		}
	}
	sub := id.PrincipalID
	if id.Kind == KindAdmin {
		sub = reg.Name
	}
	var origin string
	if grant == grantRefresh {
		origin = id.Origin
	}
	tok, err := jws.Sign(key, nil, claims{
		JTI: ids.New(), Subject: sub, Kind: id.Kind, NotBefore: now.Add(-time.Minute).Unix(), Expires: exp.Unix(), IssuedAt: now.Unix(),
		Issuer: reg.LoginServer, Audience: reg.LoginServer, Version: "1.0", GrantType: grant, Tenant: reg.TenantID, Registry: reg.Instance,
		Access: access, Origin: origin,
	})
	if err != nil {
		return "", exp, err
	}
	// A token cut short by its chain is not kept: handed to a request
	// without that bound, it would end needlessly early.
	if vs.ok && !cut {
		s.issued.Put(k, issued{token: tok, exp: exp}, 0, now.Add(lifetime/reuseDivisor), len(tok))
	}
	return tok, exp, nil
}

// skew is the clock difference tolerated between berth's replicas.
const skew = time.Minute

// verify checks a registry token of this registry for one use: a refresh
// token is no access token and the reverse. A token's signature is
// verified the first time it is seen; its claims are then kept under its
// hash until it expires, so that a client presenting it on every request
// costs a map look-up, not an RSA verification, and are checked against
// the registry on every use. Keeping them does not extend anything: a
// key is retired only after the last token it signed has expired
// (keys.Ring.Rotate).
func (s *Service) verify(ctx context.Context, reg Registry, token, grant string) (claims, error) {
	k := sha256.Sum256([]byte(token))
	now := time.Now()
	if c, hit := s.verified.Get(k, 0, now); hit {
		return c, c.check(reg, grant, now)
	}
	var c claims
	if err := jws.Verify(ctx, s.Keys, token, now, &c); err != nil {
		if errors.Is(err, jws.ErrInvalid) {
			return c, fail(ErrUnauthorized, "%v", err)
		}
		return c, err
	}
	if err := c.check(reg, grant, now); err != nil {
		return c, err
	}
	// Decoded, the claims take about twice the token's length in memory.
	s.verified.Put(k, c, 0, time.Unix(c.Expires, 0), 2*len(token))
	return c, nil
}

// check tells whether verified claims are good at a registry for one use
// now. The gate runs it on cached claims too: a registry's name can pass
// to another tenant once deleted, and the token must not follow it.
func (c claims) check(reg Registry, grant string, now time.Time) error {
	switch {
	case c.Audience != reg.LoginServer || c.Issuer != reg.LoginServer:
		return fail(ErrUnauthorized, "the token is for another registry")
	case c.Tenant != reg.TenantID:
		return fail(ErrUnauthorized, "the token is for another tenant")
	case c.Registry != reg.Instance:
		return fail(ErrUnauthorized, "the token is for a registry that no longer exists")
	case c.GrantType != grant:
		return fail(ErrUnauthorized, "a %s cannot be used as a %s", c.GrantType, grant)
	case now.Add(-skew).After(time.Unix(c.Expires, 0)):
		return fail(ErrUnauthorized, "the token has expired")
	case now.Add(skew).Before(time.Unix(c.NotBefore, 0)):
		return fail(ErrUnauthorized, "the token is not valid yet")
	case c.Kind != KindPrincipal && c.Kind != KindAdmin && c.Kind != KindAnonymous:
		return fail(ErrUnauthorized, "the token names no identity")
	}
	return nil
}

// Exchange turns a directory token into a registry refresh token. The
// token must be for the management resource (unless the registry's policy
// refuses those) or the registry resource, and from the registry's tenant;
// tenant, when given, must name that tenant too.
func (s *Service) Exchange(ctx context.Context, reg Registry, accessToken, tenant string) (string, error) {
	vs := s.versions()
	wants := []sts.Resource{sts.Registry}
	if reg.ManagementTokens {
		wants = append(wants, sts.Management)
	}
	c, err := s.Directory.VerifyAny(ctx, accessToken, wants...)
	if errors.Is(err, sts.ErrInvalidToken) {
		return "", fail(ErrUnauthorized, "the access token is not valid here: %v", err)
	}
	if err != nil {
		return "", err
	}
	if c.TenantID != reg.TenantID || (tenant != "" && tenant != reg.TenantID) {
		return "", fail(ErrUnauthorized, "the access token's tenant is not the registry's tenant")
	}
	id := Identity{Kind: KindPrincipal, PrincipalID: c.ObjectID, Origin: directoryOrigin}
	p, err := s.permissions(ctx, reg, id)
	if err != nil {
		return "", err
	}
	if !p.any() {
		return "", fail(ErrDenied, "the principal %s has no role assignment granting access to registry %s", c.ObjectID, reg.Name)
	}
	tok, _, err := s.issue(ctx, vs, reg, id, grantRefresh, nil)
	return tok, err
}

// TokenRequest is a request for an access token, with one way of saying
// who asks: a refresh token, Basic credentials, or neither (anonymous).
type TokenRequest struct {
	RefreshToken string
	User, Pass   string
	Basic        bool
	// Source is where the request came from, for the wrong-secret
	// throttle (clientauth.SourceOf).
	Source string
	Scopes []Scope
	// Offline asks for a refresh token too (docker login's
	// offline_token).
	Offline bool
}

// TokenResponse is what the token endpoint answers.
type TokenResponse struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int
}

// Token issues an access token for the scopes, carrying what the caller
// may do of them.
func (s *Service) Token(ctx context.Context, reg Registry, req TokenRequest) (TokenResponse, error) {
	vs := s.versions()
	id := Identity{Kind: KindAnonymous}
	// A refresh token renewed by a refresh token ends when the first of
	// its chain does: only presenting the credential again starts a new
	// chain.
	var chainEnds time.Time
	switch {
	case req.RefreshToken != "":
		c, err := s.verifyRefresh(ctx, reg, req.RefreshToken)
		if err != nil {
			return TokenResponse{}, err
		}
		id, chainEnds = c.identity(), time.Unix(c.Expires, 0)
	case req.Basic:
		var err error
		if id, err = s.Basic(ctx, reg, req.User, req.Pass, req.Source); err != nil {
			return TokenResponse{}, err
		}
	}
	p, err := s.permissions(ctx, reg, id)
	if err != nil {
		return TokenResponse{}, err
	}
	if id.Kind != KindAnonymous && !p.any() {
		return TokenResponse{}, fail(ErrDenied, "no role assignment grants access to registry %s", reg.Name)
	}
	if id.Kind == KindAnonymous && !reg.AnonymousPullEnabled {
		return TokenResponse{}, fail(ErrUnauthorized, "anonymous access to registry %s is not enabled", reg.Name)
	}
	tok, exp, err := s.issue(ctx, vs, reg, id, grantAccess, p.access(req.Scopes))
	if err != nil {
		return TokenResponse{}, err
	}
	out := TokenResponse{AccessToken: tok, ExpiresIn: int(time.Until(exp).Seconds())}
	if req.Offline && id.Kind != KindAnonymous {
		if out.RefreshToken, _, err = s.issueUntil(ctx, vs, reg, id, grantRefresh, nil, chainEnds); err != nil {
			return TokenResponse{}, err
		}
	}
	return out, nil
}

func validRepository(name string) error { return oci.ValidateName(name) }
