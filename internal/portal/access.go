package portal

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
)

// maxFound is how many principals a search shows: more are narrowed by a
// longer search, not paged through.
const maxFound = 20

// found is the principals a search matched.
type found struct {
	Query   string
	Members []member
	// More is whether more matched than are shown.
	More bool
}

// kindOrder lists users before applications before managed identities.
var kindOrder = map[string]int{"User": 0, "Application": 1, "Application of another tenant": 1, "Managed identity": 2}

// findMembers finds the tenant's users, applications (its own and those
// consented to) and managed identities whose name, user name, object id
// or application id contains q.
func (h *Handler) findMembers(ctx context.Context, rq *request, q string) (found, error) {
	f := found{Query: q}
	users, err := h.Directory.ListUsers(ctx, rq.dir, "")
	if err != nil {
		return f, err
	}
	sps, err := h.Directory.ListServicePrincipals(ctx, rq.dir, "")
	if err != nil {
		return f, err
	}
	for _, u := range users {
		if matches(q, u.DisplayName, u.UserPrincipalName, u.ObjectID) {
			f.Members = append(f.Members, userMember(u))
		}
	}
	for _, sp := range sps {
		if matches(q, sp.DisplayName, sp.AppID, sp.ObjectID) {
			f.Members = append(f.Members, spMember(sp))
		}
	}
	slices.SortFunc(f.Members, func(a, b member) int {
		return cmp.Or(cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]), strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)))
	})
	if len(f.Members) > maxFound {
		f.Members, f.More = f.Members[:maxFound], true
	}
	return f, nil
}

// access is what Check access shows of one principal at a scope.
type access struct {
	Member      member
	Assignments []assignment
	Permissions []permission
}

// permission is one thing a principal may or may not do at a scope.
type permission struct {
	Name, Action string
	Allowed      bool
}

// permissionsAt are the permissions Check access looks at on a scope:
// the scope's own reading, changing and deleting, its access control,
// and for a registry, or the scopes registries are in, the registry's
// actions.
func permissionsAt(scope resourceid.ID) []permission {
	typ := scope.Type()
	switch {
	case scope.IsSubscription():
		typ = "Microsoft.Resources/subscriptions"
	case scope.IsResourceGroup():
		typ = "Microsoft.Resources/subscriptions/resourceGroups"
	}
	ps := []permission{
		{Name: "Read", Action: typ + "/read"},
		{Name: "Change", Action: typ + "/write"},
		{Name: "Delete", Action: typ + "/delete"},
		{Name: "See role assignments", Action: "Microsoft.Authorization/roleAssignments/read"},
		{Name: "Add and remove role assignments", Action: "Microsoft.Authorization/roleAssignments/write"},
	}
	if !scope.IsResource() || typ == resourcetype.Registry {
		ps = append(ps,
			permission{Name: "Pull images", Action: authz.ActionRegistryPull},
			permission{Name: "Push images", Action: authz.ActionRegistryPush},
			permission{Name: "Delete images", Action: authz.ActionRegistryDelete},
			permission{Name: "Sign images", Action: authz.ActionRegistrySign})
	}
	return ps
}

// checkAccess is principal's access at scope, from the assignments that
// apply there (all of them, at the scope and inherited).
func checkAccess(scope resourceid.ID, m member, applying []assignment) *access {
	a := &access{Member: m, Permissions: permissionsAt(scope)}
	var roles []authz.RoleDefinition
	for _, as := range applying {
		if as.PrincipalID != m.ID {
			continue
		}
		a.Assignments = append(a.Assignments, as)
		if def, ok := authz.RoleByID(as.RoleDefinitionID); ok {
			roles = append(roles, def)
		}
	}
	for i, p := range a.Permissions {
		a.Permissions[i].Allowed = slices.ContainsFunc(roles, func(r authz.RoleDefinition) bool { return r.Allows(p.Action) })
	}
	return a
}
