package authz

import (
	"context"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/cache"
)

// Store is what the engine reads: one principal's assignments.
type Store interface {
	RoleAssignmentsOfPrincipal(ctx context.Context, principalID string) ([]store.RoleAssignment, error)
}

// Engine answers authorization checks from the stored role assignments.
// While the store vouches for the version of its role assignments
// (store.Versions), each principal's grants are kept in memory and read
// again after any assignment changes.
type Engine struct {
	Store Store

	cache cache.Cache[string, Grants]
}

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
	var v uint64
	vs, cacheable := e.Store.(store.Versions)
	if cacheable {
		v, cacheable = vs.Version(store.RoleAssignmentTables)
	}
	if cacheable {
		if g, hit := e.cache.Get(principalID, v, time.Time{}); hit {
			return g, nil
		}
	}
	g, err := e.read(ctx, principalID)
	if err != nil || !cacheable {
		return g, err
	}
	// Tagged with the version read before the store was: a write that
	// lands in between makes the entry stale at once.
	e.cache.Put(principalID, g, v, time.Time{}, len(principalID)+len(g)*grantSize)
	return g, nil
}

// grantSize is what one grant costs in the cache: a scope and a pointer.
const grantSize = 256

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
