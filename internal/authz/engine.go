package authz

import (
	"context"
	"strings"
	"sync"

	"github.com/berthhq/berth/internal/store"
)

// Store is what the engine reads: one principal's assignments.
type Store interface {
	RoleAssignmentsOfPrincipal(ctx context.Context, principalID string) ([]store.RoleAssignment, error)
}

// Versioned is a store that can say when role assignments last changed.
// ok is false when other processes write them too, and then the engine
// reads the store on every check.
type Versioned interface {
	RoleAssignmentsVersion() (v uint64, ok bool)
}

// Engine answers authorization checks from the stored role assignments.
type Engine struct {
	Store Store

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	version uint64
	grants  Grants
}

// maxCached bounds the cache: past it, the cache starts over rather than
// grow with every principal that ever made a request.
const maxCached = 100_000

// Grants are one principal's role assignments, resolved to their roles,
// for answering several checks of one request with one read.
type Grants []grant

type grant struct {
	scope string // scope key: lower case, no trailing slash; "" is the root
	role  *RoleDefinition
}

// Grants reads a principal's assignments. Assignments naming a role that
// does not exist grant nothing.
func (e *Engine) Grants(ctx context.Context, principalID string) (Grants, error) {
	v, cacheable := e.version()
	if cacheable {
		e.mu.Lock()
		c, hit := e.cache[principalID]
		e.mu.Unlock()
		if hit && c.version == v {
			return c.grants, nil
		}
	}
	g, err := e.read(ctx, principalID)
	if err != nil || !cacheable {
		return g, err
	}
	e.mu.Lock()
	if e.cache == nil || len(e.cache) >= maxCached {
		e.cache = make(map[string]cached)
	}
	// Tagged with the version read before the store was: a write that
	// lands in between makes the entry stale at once.
	e.cache[principalID] = cached{version: v, grants: g}
	e.mu.Unlock()
	return g, nil
}

func (e *Engine) version() (uint64, bool) {
	if vs, ok := e.Store.(Versioned); ok {
		return vs.RoleAssignmentsVersion()
	}
	return 0, false
}

func (e *Engine) read(ctx context.Context, principalID string) (Grants, error) {
	as, err := e.Store.RoleAssignmentsOfPrincipal(ctx, principalID)
	if err != nil {
		return nil, err
	}
	g := make(Grants, 0, len(as))
	for _, a := range as {
		if r, ok := byID[strings.ToLower(a.RoleDefinitionID)]; ok {
			g = append(g, grant{scope: ScopeKey(a.Scope), role: r})
		}
	}
	return g, nil
}

// Check reports whether principalID may perform action at scope.
func (e *Engine) Check(ctx context.Context, principalID, scope, action string) (bool, error) {
	g, err := e.Grants(ctx, principalID)
	if err != nil {
		return false, err
	}
	return g.Allows(scope, action), nil
}

// Allows reports whether an assignment at scope or above grants action.
func (g Grants) Allows(scope, action string) bool {
	target := ScopeKey(scope)
	for _, a := range g {
		if within(target, a.scope) && a.role.Allows(action) {
			return true
		}
	}
	return false
}

// Touches reports whether any assignment is at, above or below scope: the
// principal has some access in there, which is what decides whether a
// subscription is listed to it.
func (g Grants) Touches(scope string) bool {
	target := ScopeKey(scope)
	for _, a := range g {
		if within(target, a.scope) || within(a.scope, target) {
			return true
		}
	}
	return false
}

// Below reports whether any assignment is strictly below scope: at a
// registry, one on one of its repositories.
func (g Grants) Below(scope string) bool {
	target := ScopeKey(scope)
	for _, a := range g {
		if a.scope != target && within(a.scope, target) {
			return true
		}
	}
	return false
}

// ScopeKey is a scope as compared: lower case, without trailing slashes.
func ScopeKey(scope string) string { return strings.TrimRight(strings.ToLower(scope), "/") }

// within reports whether scope key s is ancestor, or at or below it, on a
// path-segment boundary.
func within(s, ancestor string) bool {
	return s == ancestor || strings.HasPrefix(s, ancestor) && s[len(ancestor)] == '/'
}
