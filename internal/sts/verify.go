package sts

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/jws"
	"github.com/berthhq/berth/internal/store"
)

// ErrInvalidToken is every reason an access token is refused; the reason
// is wrapped for logs, never shown to the caller in detail.
var ErrInvalidToken = errors.New("invalid access token")

// verifySkew tolerates clocks a little apart between berth's replicas.
const verifySkew = 2 * time.Minute

// Claims is what a verified access token says about its caller.
type Claims struct {
	TenantID string
	// ObjectID is the caller's service principal in TenantID.
	ObjectID string
	// AppID is the caller's application (appid in v1, azp in v2).
	AppID    string
	Audience string
	Issuer   string
}

type invalidToken struct{ reason string }

func (e invalidToken) Error() string { return "invalid access token: " + e.reason }
func (e invalidToken) Unwrap() error { return ErrInvalidToken }

func invalid(reason string) error { return invalidToken{reason} }

// Verify checks an access token berth issued for want: an RS256 signature
// by a published key, the time window, the audience and the issuer. The
// issuer's host is not checked: it is whatever authority the client used,
// and the signature already proves berth issued the token.
func (s *Service) Verify(ctx context.Context, token string, want Resource) (Claims, error) {
	return s.VerifyAny(ctx, token, want)
}

// VerifyAny is Verify for a token whose audience may be any of wants.
func (s *Service) VerifyAny(ctx context.Context, token string, wants ...Resource) (Claims, error) {
	now := time.Now()
	var c struct {
		Aud   string `json:"aud"`
		Iss   string `json:"iss"`
		Exp   int64  `json:"exp"`
		Nbf   int64  `json:"nbf"`
		Tid   string `json:"tid"`
		Oid   string `json:"oid"`
		AppID string `json:"appid"`
		Azp   string `json:"azp"`
	}
	if err := jws.Verify(ctx, s.Keys, token, now, &c); err != nil {
		if errors.Is(err, jws.ErrInvalid) {
			return Claims{}, invalid(strings.TrimPrefix(err.Error(), "invalid token: "))
		}
		return Claims{}, err
	}
	if c.Exp == 0 || now.Add(-verifySkew).After(time.Unix(c.Exp, 0)) {
		return Claims{}, invalid("expired")
	}
	if now.Add(verifySkew).Before(time.Unix(c.Nbf, 0)) {
		return Claims{}, invalid("not yet valid")
	}
	if r, ok := LookupResource(c.Aud); !ok || !slices.Contains(wants, r) {
		return Claims{}, invalid("audience " + c.Aud)
	}
	if c.Tid == "" || c.Oid == "" || !issuerOf(c.Iss, c.Tid) {
		return Claims{}, invalid("issuer or subject")
	}
	// A token does not outlive its principal: deleting a service
	// principal (an application's consent withdrawn, a managed identity
	// removed) stops its tokens at once, not when they expire.
	sp, err := s.Directory.GetServicePrincipal(ctx, c.Oid)
	if errors.Is(err, store.ErrNotFound) || err == nil && sp.TenantID != c.Tid {
		return Claims{}, invalid("the principal no longer exists")
	}
	if err != nil {
		return Claims{}, err
	}
	appID := c.AppID
	if appID == "" {
		appID = c.Azp
	}
	return Claims{TenantID: c.Tid, ObjectID: c.Oid, AppID: appID, Audience: c.Aud, Issuer: c.Iss}, nil
}

// issuerOf reports whether iss is a v1 (".../{tid}/") or v2
// (".../{tid}/v2.0") issuer of tenant tid on any http(s) host.
func issuerOf(iss, tid string) bool {
	u, err := url.Parse(iss)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return false
	}
	return u.Path == "/"+tid+"/" || u.Path == "/"+tid+"/v2.0"
}
