package registryauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/cache"
	"github.com/berthhq/berth/internal/sts"
)

// Failures, each mapped to the wire once at each surface.
var (
	// ErrUnauthorized: credentials or a token that prove nothing.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrDenied: a known caller with no access here.
	ErrDenied = errors.New("access denied")
	// ErrBadRequest: a request that is not one.
	ErrBadRequest = errors.New("bad request")
	// ErrRegistryUnknown: no such registry.
	ErrRegistryUnknown = errors.New("registry unknown")
)

// failure carries what the caller is told.
type failure struct {
	kind error
	msg  string
}

func (f failure) Error() string { return f.msg }
func (f failure) Unwrap() error { return f.kind }

func fail(kind error, format string, args ...any) error {
	return failure{kind, fmt.Sprintf(format, args...)}
}

// NullUser is the user name that says "the password is a refresh token".
const NullUser = "00000000-0000-0000-0000-000000000000"

// Default token lifetimes, the public service's.
const (
	DefaultRefreshLifetime = 3 * time.Hour
	DefaultAccessLifetime  = 75 * time.Minute
)

// Store is what authentication reads.
type Store interface {
	GetRegistry(ctx context.Context, name string) (store.Registry, error)
	ListRegistryPasswords(ctx context.Context, registry string) ([]store.RegistryPassword, error)
	GetResource(ctx context.Context, id string) (store.Resource, error)
	GetServicePrincipal(ctx context.Context, objectID string) (store.ServicePrincipal, error)
}

// DirectoryVerifier checks directory tokens.
type DirectoryVerifier interface {
	VerifyAny(ctx context.Context, token string, wants ...sts.Resource) (sts.Claims, error)
}

// Service is the registries' token service and credential checks.
type Service struct {
	Store     Store
	Authz     *authz.Engine
	Keys      *keys.Ring
	Directory DirectoryVerifier
	// Clients checks service principals' secrets, as it does for every
	// surface.
	Clients *clientauth.Checker
	// Suffix makes login servers: <registry>.<suffix>.
	Suffix          string
	RefreshLifetime time.Duration
	AccessLifetime  time.Duration

	// basic keeps recent successful Basic checks by a hash of the
	// credentials and the registry instance, so that a client sending
	// them on every request costs a map look-up, not a secret hash and
	// two queries. Entries expire (basicTTL), so a removed secret stops
	// working within that time.
	basic cache.Cache[[32]byte, Identity]
	// registries keeps registries with their settings while the store
	// vouches that no registry or resource changed.
	registries cache.Cache[string, Registry]
	// verified keeps registry tokens' verified claims (see verify).
	verified cache.Cache[[32]byte, claims]
	// issued keeps tokens recently signed, to hand out again (reuse.go),
	// about a kilobyte each, within the cache's default bound.
	issued cache.Cache[[32]byte, issued]
}

const basicTTL = 30 * time.Second

// Registry is what authentication needs to know of a registry.
type Registry struct {
	Name string
	// Instance tells apart registries that had the same name one after
	// the other: tokens carry it, so a deleted registry's tokens are
	// refused by its successor, in any tenant.
	Instance             string
	LoginServer          string
	TenantID             string
	ResourceID           string
	AdminUserEnabled     bool
	AnonymousPullEnabled bool
	// ManagementTokens: directory tokens for the management resource are
	// exchanged (the azureADAuthenticationAsArmPolicy).
	ManagementTokens bool
}

// registryEntrySize is what a registry costs in the cache: its names,
// ids and settings.
const registryEntrySize = 512

// Registry looks a registry up with its settings. While the store can
// vouch that no registry changed, it answers from memory: every registry
// request starts here.
func (s *Service) Registry(ctx context.Context, name string) (Registry, error) {
	v, versioned := s.registriesVersion()
	if versioned {
		if reg, hit := s.registries.Get(name, v, time.Time{}); hit {
			return reg, nil
		}
	}
	reg, err := s.readRegistry(ctx, name)
	if err != nil || !versioned {
		return reg, err
	}
	// Tagged with the version read before the store was, so a change in
	// between makes it stale at once.
	s.registries.Put(name, reg, v, time.Time{}, registryEntrySize)
	return reg, nil
}

func (s *Service) registriesVersion() (uint64, bool) {
	if vs, ok := s.Store.(store.Versions); ok {
		return vs.Version(store.RegistryTables)
	}
	return 0, false
}

// cached reports whether Registry answers from memory, which makes the
// settings free to read on every request.
func (s *Service) cached() bool {
	_, ok := s.registriesVersion()
	return ok
}

func (s *Service) readRegistry(ctx context.Context, name string) (Registry, error) {
	reg, err := s.registryIdentity(ctx, name)
	if err != nil {
		return Registry{}, err
	}
	reg.ManagementTokens = true
	res, err := s.Store.GetResource(ctx, reg.ResourceID)
	if errors.Is(err, store.ErrNotFound) {
		return reg, nil
	}
	if err != nil {
		return Registry{}, err
	}
	var p resourcetype.RegistryProperties
	if err := json.Unmarshal(res.Properties, &p); err != nil {
		return Registry{}, fmt.Errorf("registry %s properties: %w", name, err)
	}
	reg.AdminUserEnabled, reg.AnonymousPullEnabled = p.AdminUserEnabled, p.AnonymousPullEnabled
	reg.ManagementTokens = p.Policies.AzureADAuthenticationAsArmPolicy.Status != "disabled"
	return reg, nil
}

// registryIdentity looks up what a registry is (name, login server,
// tenant, resource) without its settings, which live in its resource's
// properties: one query instead of two and a JSON decode, for callers
// whose admission does not depend on the settings.
func (s *Service) registryIdentity(ctx context.Context, name string) (Registry, error) {
	r, err := s.Store.GetRegistry(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return Registry{}, ErrRegistryUnknown
	}
	if err != nil {
		return Registry{}, err
	}
	return Registry{Name: r.Name, Instance: strconv.FormatInt(r.CreatedAt.UnixNano(), 10), LoginServer: r.Name + "." + s.Suffix,
		TenantID: r.TenantID, ResourceID: r.ResourceID}, nil
}

// Identity is who a request comes from at a registry.
type Identity struct {
	Kind        string // KindPrincipal, KindAdmin or KindAnonymous
	PrincipalID string // the principal's object id, for KindPrincipal
	// Origin is the credential the identity was proved with, which
	// refresh tokens minted for it carry and are checked against on every
	// use (see origin.go).
	Origin string
}

// Kinds of identity.
const (
	KindPrincipal = "principal"
	KindAdmin     = "admin"
	KindAnonymous = "anonymous"
)

// key names the identity for throttling.
func (id Identity) key(reg Registry) string {
	switch id.Kind {
	case KindPrincipal:
		return id.PrincipalID
	case KindAdmin:
		return "admin:" + reg.Name
	}
	return ""
}

// Basic authenticates Basic credentials at a registry: a service
// principal's app id and secret, the admin user's name and password, or
// the null user with a registry refresh token.
func (s *Service) Basic(ctx context.Context, reg Registry, user, pass, source string) (Identity, error) {
	if user == NullUser {
		c, err := s.verifyRefresh(ctx, reg, pass)
		if err != nil {
			return Identity{}, err
		}
		return c.identity(), nil
	}
	// By instance, not name: a registry deleted and its name taken again
	// must not answer from its predecessor's entries.
	k := sha256.Sum256([]byte(reg.Instance + "\x00" + user + "\x00" + pass))
	now := time.Now()
	if id, hit := s.basic.Get(k, 0, now); hit {
		// The admin user can be turned off: that takes effect at once.
		if id.Kind != KindAdmin || reg.AdminUserEnabled {
			return id, nil
		}
	}
	id, err := s.checkBasic(ctx, reg, user, pass, source)
	if err != nil {
		return Identity{}, err
	}
	s.basic.Put(k, id, 0, now.Add(basicTTL), len(id.PrincipalID))
	return id, nil
}

var errBadCredentials = fail(ErrUnauthorized, "invalid username or password")

func (s *Service) checkBasic(ctx context.Context, reg Registry, user, pass, source string) (Identity, error) {
	if strings.EqualFold(user, reg.Name) {
		if !reg.AdminUserEnabled {
			return Identity{}, errBadCredentials
		}
		pws, err := s.Store.ListRegistryPasswords(ctx, reg.Name)
		if err != nil {
			return Identity{}, err
		}
		for _, p := range pws {
			if secret.Verify(pass, p.Salt, p.Hash) {
				return Identity{Kind: KindAdmin, Origin: adminOrigin(p)}, nil
			}
		}
		return Identity{}, errBadCredentials
	}
	// The application acts in the registry's tenant through its service
	// principal there: none, no access (another tenant's application
	// needs consent first).
	client, err := s.Clients.Secret(ctx, reg.TenantID, user, pass, source)
	switch {
	case errors.Is(err, clientauth.ErrNoServicePrincipal):
		return Identity{}, fail(ErrUnauthorized, "application %s has no service principal in the registry's tenant", user)
	case errors.Is(err, clientauth.ErrSecretExpired):
		return Identity{}, fail(ErrUnauthorized, "the client secret has expired")
	case errors.Is(err, clientauth.ErrApplicationNotFound), errors.Is(err, clientauth.ErrInvalidSecret):
		return Identity{}, errBadCredentials
	case err != nil:
		return Identity{}, err
	}
	return Identity{Kind: KindPrincipal, PrincipalID: client.ServicePrincipal.ObjectID,
		Origin: secretOrigin(client.Application.ObjectID, client.SecretKeyID)}, nil
}

// Registry actions, as scopes and tokens name them.
const (
	ActionPull          = "pull"
	ActionPush          = "push"
	ActionDelete        = "delete"
	ActionMetadataRead  = "metadata_read"
	ActionMetadataWrite = "metadata_write"
)

// roleActions maps registry actions to what role definitions grant.
var roleActions = map[string]string{
	ActionPull:          authz.ActionRegistryPull,
	ActionPush:          authz.ActionRegistryPush,
	ActionDelete:        authz.ActionRegistryDelete,
	ActionMetadataRead:  "Microsoft.ContainerRegistry/registries/metadata/read",
	ActionMetadataWrite: "Microsoft.ContainerRegistry/registries/metadata/write",
}

var allActions = []string{ActionDelete, ActionMetadataRead, ActionMetadataWrite, ActionPull, ActionPush}

// permissions is what one identity may do at one registry.
type permissions struct {
	reg    Registry
	id     Identity
	grants authz.Grants
}

func (s *Service) permissions(ctx context.Context, reg Registry, id Identity) (permissions, error) {
	p := permissions{reg: reg, id: id}
	if id.Kind == KindPrincipal {
		g, err := s.Authz.Grants(ctx, id.PrincipalID)
		if err != nil {
			return p, err
		}
		p.grants = g
	}
	return p, nil
}

// any reports whether the identity may do something at the registry: a
// principal with no registry action at the registry or on any of its
// repositories is refused tokens altogether.
func (p permissions) any() bool {
	switch p.id.Kind {
	case KindAdmin:
		return p.reg.AdminUserEnabled
	case KindAnonymous:
		return p.reg.AnonymousPullEnabled
	}
	for _, a := range roleActions {
		if p.grants.Allows(p.reg.ResourceID, a) {
			return true
		}
	}
	return p.grants.Below(p.reg.ResourceID)
}

// repository returns which of actions the identity may do on a
// repository.
func (p permissions) repository(name string, actions []string) []string {
	var out []string
	for _, a := range actions {
		if p.allows(name, a) {
			out = append(out, a)
		}
	}
	return out
}

func (p permissions) allows(repo, action string) bool {
	switch p.id.Kind {
	case KindAdmin:
		return p.reg.AdminUserEnabled
	case KindAnonymous:
		return action == ActionPull && p.reg.AnonymousPullEnabled
	}
	ra, ok := roleActions[action]
	scope := p.reg.ResourceID + "/repositories/" + repo
	if !ok {
		return false
	}
	if p.grants.Allows(scope, ra) {
		return true
	}
	// Pulling includes reading the metadata API (listing tags and
	// manifests, showing attributes) and pushing includes changing
	// attributes, as the cloud's AcrPull and AcrPush grant them.
	switch action {
	case ActionMetadataRead:
		return p.grants.Allows(scope, authz.ActionRegistryPull)
	case ActionMetadataWrite:
		return p.grants.Allows(scope, authz.ActionRegistryPush)
	}
	return false
}

// catalog reports whether the identity may list repositories at all.
func (p permissions) catalog() bool { return p.id.Kind != KindAnonymous && p.any() }

// Scope is one requested access: "repository:<name>:<actions>" or
// "registry:catalog:*".
type Scope struct {
	Type    string
	Name    string
	Actions []string
}

// MaxScopes bounds the distinct scopes one token request may ask for:
// with repositories' names at most 255 characters and five actions, a
// token stays under about 20 KB, however the request is written.
const MaxScopes = 50

// ParseScopes parses scope parameters, each holding one or more
// space-separated scopes. Scopes of types berth does not serve are
// dropped, as a registry does; malformed ones are an error. Scopes naming
// the same repository are merged, actions once each.
func ParseScopes(values []string) ([]Scope, error) {
	var out []Scope
	index := map[[2]string]int{}
	for _, v := range values {
		for _, f := range strings.Fields(v) {
			typ, rest, ok1 := strings.Cut(f, ":")
			i := strings.LastIndex(rest, ":")
			if !ok1 || i < 0 {
				return nil, fail(ErrBadRequest, "malformed scope '%s'", f)
			}
			name, actions := rest[:i], strings.Split(rest[i+1:], ",")
			switch typ {
			case "repository":
				if err := validRepository(name); err != nil {
					return nil, fail(ErrBadRequest, "malformed scope '%s': %v", f, err)
				}
			case "registry":
				if name != "catalog" {
					continue
				}
			default:
				continue
			}
			k := [2]string{typ, name}
			i, seen := index[k]
			if !seen {
				if len(out) == MaxScopes {
					return nil, fail(ErrBadRequest, "more than %d scopes in one request", MaxScopes)
				}
				i, index[k] = len(out), len(out)
				out = append(out, Scope{Type: typ, Name: name})
			}
			for _, a := range actions {
				if !slices.Contains(out[i].Actions, a) {
					if len(out[i].Actions) == maxActions {
						return nil, fail(ErrBadRequest, "malformed scope '%s': more than %d actions", f, maxActions)
					}
					out[i].Actions = append(out[i].Actions, a)
				}
			}
		}
	}
	return out, nil
}

// maxActions bounds the distinct actions of one scope: five are served.
const maxActions = 16

// access computes what a token for scopes carries: each scope's actions
// that the identity has, "*" expanded.
func (p permissions) access(scopes []Scope) []Access {
	var out []Access
	for _, sc := range scopes {
		var granted []string
		if sc.Type == "registry" {
			if p.catalog() {
				granted = []string{"*"}
			}
		} else {
			want := sc.Actions
			if slices.Contains(want, "*") {
				want = allActions
			}
			granted = p.repository(sc.Name, want)
		}
		out = append(out, Access{Type: sc.Type, Name: sc.Name, Actions: nonNil(granted)})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Reader is what one principal may read at one registry, for a caller
// that acts as the principal in the server, without a token (the
// portal): the same role assignments decide as for its tokens.
type Reader struct{ p permissions }

// ReaderFor is principalID's Reader at reg.
func (s *Service) ReaderFor(ctx context.Context, reg Registry, principalID string) (Reader, error) {
	p, err := s.permissions(ctx, reg, Identity{Kind: KindPrincipal, PrincipalID: principalID})
	return Reader{p}, err
}

// Catalog reports whether the principal may list the registry's
// repositories.
func (r Reader) Catalog() bool { return r.p.catalog() }

// Repository reports whether the principal may read a repository's tags
// and manifests: pull, or read its metadata.
func (r Reader) Repository(name string) bool {
	return len(r.p.repository(name, []string{ActionPull, ActionMetadataRead})) > 0
}

// May reports whether the principal may do action (ActionPull,
// ActionPush, ActionDelete, ActionMetadataRead, ActionMetadataWrite) on a
// repository, as its token for the repository would carry it.
func (r Reader) May(name, action string) bool { return r.p.allows(name, action) }
