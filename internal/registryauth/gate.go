package registryauth

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/ociapi"
)

// Gate is the registry's ociapi.Authorizer.
type Gate struct {
	Service  *Service
	Throttle *Throttle
}

var _ ociapi.Authorizer = (*Gate)(nil)

// caller is who a /v2/ request comes from, and with what.
type caller struct {
	reg    Registry
	id     Identity
	token  *claims // the access token, for Bearer requests
	scheme string  // "Bearer", "Basic" or ""
}

// identify reads the registry and says who the caller is. A Bearer caller
// is admitted on its token's claims, checked against the registry's name
// and tenant on every request, so for it the registry's settings (admin
// user, anonymous pull, policies) are not read: caller.reg lacks them.
func (g *Gate) identify(r *http.Request, registry string) (caller, error) {
	ctx := r.Context()
	auth := r.Header.Get("Authorization")
	bearer, isBearer := strings.CutPrefix(auth, "Bearer ")
	lookup := g.Service.Registry
	if isBearer && !g.Service.cached() {
		lookup = g.Service.registryIdentity
	}
	reg, err := lookup(ctx, registry)
	if err != nil {
		return caller{}, err
	}
	c := caller{reg: reg, id: Identity{Kind: KindAnonymous}}
	switch {
	case auth == "":
		return c, nil
	case isBearer:
		c.scheme = "Bearer"
		tok, err := g.Service.verify(ctx, reg, strings.TrimSpace(bearer), grantAccess)
		if err != nil {
			return c, err
		}
		c.token, c.id = &tok, tok.identity()
	default:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return c, fail(ErrUnauthorized, "unsupported authorization scheme")
		}
		c.scheme = "Basic"
		if c.id, err = g.Service.Basic(ctx, reg, user, pass, clientauth.SourceOf(r)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Authorize admits a /v2/ request needing one action.
func (g *Gate) Authorize(r *http.Request, registry string, need ociapi.Access) error {
	c, err := g.identify(r, registry)
	if errors.Is(err, ErrUnauthorized) {
		return g.challenge(r, c, need, "invalid_token", err)
	}
	if err != nil {
		return err
	}
	if err := g.throttle(c); err != nil {
		return err
	}
	if need == (ociapi.Access{}) {
		// /v2/ answers an authenticated caller only, even with anonymous
		// pull on: clients learn from its challenge where tokens are.
		if c.scheme == "" {
			return g.challenge(r, c, need, "", errors.New("authentication required"))
		}
		return nil
	}
	switch c.scheme {
	case "Bearer":
		if c.token.allows(need) {
			return nil
		}
		return g.challenge(r, c, need, "insufficient_scope", ociapi.ErrDenied)
	case "Basic":
		p, err := g.Service.permissions(r.Context(), c.reg, c.id)
		if err != nil {
			return err
		}
		if need.Type == "registry" && p.catalog() || need.Type == "repository" && p.allows(need.Name, need.Action) {
			return nil
		}
		return ociapi.ErrDenied
	}
	if need.Type == "repository" && need.Action == ActionPull && c.reg.AnonymousPullEnabled {
		return nil
	}
	return g.challenge(r, c, need, "", errors.New("authentication required"))
}

func (c *claims) allows(need ociapi.Access) bool {
	for _, a := range c.Access {
		if a.Type != need.Type || a.Name != need.Name {
			continue
		}
		for _, act := range a.Actions {
			if act == need.Action || act == "*" {
				return true
			}
		}
	}
	return false
}

func (g *Gate) throttle(c caller) error {
	key := c.id.key(c.reg)
	if key == "" {
		return nil
	}
	if ok, wait := g.Throttle.Take(key, time.Now()); !ok {
		return &ociapi.TooManyRequestsError{RetryAfter: int(math.Ceil(wait.Seconds()))}
	}
	return nil
}

// challenge tells the client where to get a token for what it needs, in
// the scheme it tried (Bearer unless it sent Basic credentials).
func (g *Gate) challenge(r *http.Request, c caller, need ociapi.Access, problem string, err error) error {
	if c.scheme == "Basic" {
		return &ociapi.ChallengeError{Challenge: fmt.Sprintf(`Basic realm=%q`, c.reg.LoginServer), Err: err}
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http" // berth serve --insecure-http, on loopback
	}
	v := fmt.Sprintf(`Bearer realm="%s://%s/oauth2/token",service=%q`, scheme, r.Host, c.reg.LoginServer)
	if need != (ociapi.Access{}) {
		v += fmt.Sprintf(`,scope="%s:%s:%s"`, need.Type, need.Name, scopeActions(need.Action))
	}
	if problem != "" {
		v += `,error="` + problem + `"`
	}
	return &ociapi.ChallengeError{Challenge: v, Err: err}
}

// scopeActions is what a client should ask for to do action: pushing
// needs pulling too (clients check what exists first).
func scopeActions(action string) string {
	if action == ActionPush {
		return "pull,push"
	}
	return action
}

// Visible returns which repositories the caller may see in the catalog:
// those it may pull.
func (g *Gate) Visible(r *http.Request, registry string) (func(repo string) bool, error) {
	c, err := g.identify(r, registry)
	if err != nil {
		return nil, err
	}
	if c.scheme == "Bearer" {
		// What the catalog shows depends on the settings identify
		// skipped.
		if c.reg, err = g.Service.Registry(r.Context(), registry); err != nil {
			return nil, err
		}
	}
	p, err := g.Service.permissions(r.Context(), c.reg, c.id)
	if err != nil {
		return nil, err
	}
	return func(repo string) bool { return p.allows(repo, ActionPull) }, nil
}
