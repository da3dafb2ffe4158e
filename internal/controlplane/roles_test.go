package controlplane_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/store"
)

func TestRoleDefinitions(t *testing.T) {
	f := newFixture(t)
	at := f.id("/subscriptions/" + sub)
	ds, err := f.cp.RoleDefinitions(f.ctx, nobody, at, "acrpull")
	if err != nil || len(ds) != 1 || ds[0].ID != authz.AcrPull || ds[0].Name != "AcrPull" || !slices.Contains(ds[0].Actions, authz.ActionRegistryPull) {
		t.Fatalf("AcrPull by name: %+v %v", ds, err)
	}
	if ds, err := f.cp.RoleDefinitions(f.ctx, reader, at, "nope"); err != nil || len(ds) != 0 {
		t.Fatalf("an unknown role name: %+v %v", ds, err)
	}
	if ds, err := f.cp.RoleDefinitions(f.ctx, reader, at, ""); err != nil || len(ds) != 10 {
		t.Fatalf("%d built-in roles (%v), want 10", len(ds), err)
	}
	if d, err := f.cp.RoleDefinition(f.ctx, reader, at, strings.ToUpper(authz.Contributor)); err != nil || d.Name != "Contributor" {
		t.Fatalf("Contributor by id: %+v %v", d, err)
	}
	_, err = f.cp.RoleDefinition(f.ctx, reader, at, ids.New())
	f.wantErr(err, controlplane.ErrNotFound, "RoleDefinitionDoesNotExist")
	_, err = f.cp.RoleDefinitions(f.ctx, stranger, at, "")
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
	_, err = f.cp.RoleDefinition(f.ctx, stranger, at, authz.AcrPull)
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
}

func roleAssignment(role, principal string) controlplane.NewRoleAssignment {
	return controlplane.NewRoleAssignment{RoleDefinitionID: "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role, PrincipalID: principal}
}

// TestCreateRoleAssignment: who may assign, what an assignment records,
// and the refusals, which change nothing.
func TestCreateRoleAssignment(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.mustPut(owner, registry, "", "", "", true)
	create := func(c controlplane.Caller, scope, name string, in controlplane.NewRoleAssignment) (store.RoleAssignment, error) {
		return f.cp.CreateRoleAssignment(f.ctx, c, f.id(scope), name, in)
	}

	// Only Owner and User Access Administrator write assignments.
	_, err := create(reader, registry, ids.New(), roleAssignment(authz.AcrPull, "nobody"))
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, err = create(contributor, registry, ids.New(), roleAssignment(authz.AcrPull, "nobody"))
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	name := ids.New()
	a, err := create(owner, registry, strings.ToUpper(name), roleAssignment(authz.AcrPull, "nobody"))
	if err != nil || a.ID != name || a.Scope != registry || a.RoleDefinitionID != authz.AcrPull || a.PrincipalID != "nobody" ||
		a.PrincipalType != controlplane.PrincipalTypeServicePrincipal || a.TenantID != tenant || a.CreatedBy != "owner" {
		t.Fatalf("create: %+v %v", a, err)
	}
	if _, err := create(uaa, group, ids.New(), controlplane.NewRoleAssignment{RoleDefinitionID: authz.Reader, PrincipalID: "nobody"}); err != nil {
		t.Fatalf("a User Access Administrator's create, by the role's GUID: %v", err)
	}
	// A user is a principal too.
	f.must(f.meta.CreateUser(f.ctx, store.User{ObjectID: "ada", TenantID: tenant, UserPrincipalName: "ada@a.example", CreatedAt: time.Now()}))
	in := roleAssignment(authz.AcrPush, "ada")
	in.PrincipalType = "user"
	if a, err := create(owner, registry+"/repositories/app", ids.New(), in); err != nil || a.PrincipalType != controlplane.PrincipalTypeUser {
		t.Fatalf("a user's assignment at a repository: %+v %v", a, err)
	}
	before, _ := f.meta.RoleAssignmentsOfPrincipal(f.ctx, "nobody")

	_, err = create(owner, strings.ToLower(registry), ids.New(), roleAssignment(authz.AcrPull, "nobody"))
	f.wantErr(err, controlplane.ErrConflict, "RoleAssignmentExists")
	_, err = create(owner, registry, name, roleAssignment(authz.AcrPush, "nobody"))
	f.wantErr(err, controlplane.ErrConflict, "RoleAssignmentExists")
	_, err = create(owner, registry, ids.New(), roleAssignment(authz.AcrPull, ids.New()))
	f.wantErr(err, controlplane.ErrBadRequest, "PrincipalNotFound")
	_, err = create(owner, registry, ids.New(), roleAssignment(authz.AcrPull, "stranger"))
	f.wantErr(err, controlplane.ErrBadRequest, "PrincipalNotFound")
	_, err = create(owner, registry, ids.New(), roleAssignment(ids.New(), "nobody"))
	f.wantErr(err, controlplane.ErrBadRequest, "RoleDefinitionDoesNotExist")
	_, err = create(owner, registry, "not-a-guid", roleAssignment(authz.AcrPull, "nobody"))
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidRoleAssignmentId")
	in = roleAssignment(authz.AcrDelete, "nobody")
	in.PrincipalType = "User"
	_, err = create(owner, registry, ids.New(), in)
	f.wantErr(err, controlplane.ErrBadRequest, "UnmatchedPrincipalType")
	_, err = create(owner, group+"/providers/Microsoft.ContainerRegistry/registries/absent", ids.New(), roleAssignment(authz.AcrPull, "nobody"))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceNotFound")
	_, err = create(owner, group+"/providers/Microsoft.ContainerRegistry/registries/absent/repositories/app", ids.New(), roleAssignment(authz.AcrPull, "nobody"))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceNotFound")
	_, err = create(owner, "/subscriptions/"+sub+"/resourceGroups/none", ids.New(), roleAssignment(authz.AcrPull, "nobody"))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceGroupNotFound")
	_, err = create(stranger, registry, ids.New(), roleAssignment(authz.AcrPull, "nobody"))
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
	if after, _ := f.meta.RoleAssignmentsOfPrincipal(f.ctx, "nobody"); len(after) != len(before) {
		t.Fatalf("refused creates made assignments: %+v", after)
	}
}

// TestListRoleAssignments: a listing at a scope holds the assignments
// that apply there (at it and above it) and, unless atScope, those below
// it; of the caller's tenant only.
func TestListRoleAssignments(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.mustPut(owner, registry, "", "", "", true)
	f.assign(registry, authz.AcrPull, "nobody")
	f.assign(group, authz.Reader, "nobody")
	f.assign(registry+"/repositories/app", authz.AcrPush, "nobody")
	list := func(c controlplane.Caller, scope string, flt controlplane.AssignmentFilter) string {
		t.Helper()
		as, err := f.cp.ListRoleAssignments(f.ctx, c, f.id(scope), flt)
		if err != nil {
			t.Fatalf("list at %s: %v", scope, err)
		}
		var out []string
		for _, a := range as {
			out = append(out, a.PrincipalID+":"+map[string]string{authz.AcrPull: "AcrPull", authz.AcrPush: "AcrPush", authz.Reader: "Reader",
				authz.Owner: "Owner", authz.Contributor: "Contributor", authz.UserAccessAdministrator: "UAA"}[a.RoleDefinitionID])
		}
		slices.Sort(out)
		return fmt.Sprint(out)
	}
	nobodys := controlplane.AssignmentFilter{PrincipalID: "nobody"}
	atScope := controlplane.AssignmentFilter{AtScope: true, PrincipalID: "NOBODY"}

	if got := list(reader, registry, atScope); got != "[nobody:AcrPull nobody:Reader]" {
		t.Fatalf("at the registry and above: %s", got)
	}
	if got := list(reader, registry, nobodys); got != "[nobody:AcrPull nobody:AcrPush nobody:Reader]" {
		t.Fatalf("at the registry, above and below: %s", got)
	}
	if got := list(reader, "/subscriptions/"+sub, controlplane.AssignmentFilter{AtScope: true}); got != "[contributor:Contributor owner:Owner reader:Reader uaa:UAA]" {
		t.Fatalf("at the subscription: %s", got)
	}
	if got := list(reader, "/subscriptions/"+sub, nobodys); got != "[nobody:AcrPull nobody:AcrPush nobody:Reader]" {
		t.Fatalf("by principal at the subscription: %s", got)
	}
	if got := list(reader, "/subscriptions/"+sub, controlplane.AssignmentFilter{PrincipalID: "owner"}); got != "[owner:Owner]" {
		t.Fatalf("the owner's: %s", got)
	}
	if got := list(reader, registry+"/repositories/app", atScope); got != "[nobody:AcrPull nobody:AcrPush nobody:Reader]" {
		t.Fatalf("at a repository: %s", got)
	}
	// Another tenant's assignments are not listed, even at a scope the
	// caller may read.
	f.must(f.meta.CreateRoleAssignment(f.ctx, store.RoleAssignment{ID: ids.New(), Scope: registry, RoleDefinitionID: authz.AcrPull,
		PrincipalID: "stranger", PrincipalType: controlplane.PrincipalTypeServicePrincipal, TenantID: "tenant-b", CreatedAt: time.Now()}))
	if got := list(reader, registry, controlplane.AssignmentFilter{PrincipalID: "stranger"}); got != "[]" {
		t.Fatalf("another tenant's: %s", got)
	}
	_, err := f.cp.ListRoleAssignments(f.ctx, nobody, f.id("/subscriptions/"+sub), controlplane.AssignmentFilter{})
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, err = f.cp.ListRoleAssignments(f.ctx, stranger, f.id("/subscriptions/"+sub), controlplane.AssignmentFilter{})
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
}

// TestDeleteRoleAssignment: an assignment is found at its own scope only,
// and once removed stops granting at once.
func TestDeleteRoleAssignment(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.mustPut(owner, registry, "", "", "", true)
	atRegistry := f.assign(registry, authz.AcrPull, "nobody")
	atGroup := f.assign(group, authz.Reader, "nobody")

	if _, err := f.cp.GetResource(f.ctx, nobody, f.id(registry)); err != nil {
		t.Fatalf("a Reader on the group reads the registry: %v", err)
	}
	if a, err := f.cp.GetRoleAssignment(f.ctx, reader, f.id(strings.ToLower(registry)), atRegistry.ID); err != nil || a.ID != atRegistry.ID {
		t.Fatalf("get: %+v %v", a, err)
	}
	_, err := f.cp.GetRoleAssignment(f.ctx, reader, f.id(group), atRegistry.ID)
	f.wantErr(err, controlplane.ErrNotFound, "RoleAssignmentNotFound")
	_, err = f.cp.GetRoleAssignment(f.ctx, nobody, f.id("/subscriptions/"+sub), atRegistry.ID)
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, _, err = f.cp.DeleteRoleAssignment(f.ctx, reader, f.id(group), atGroup.ID)
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	if _, found, err := f.cp.DeleteRoleAssignment(f.ctx, owner, f.id(registry), atGroup.ID); err != nil || found {
		t.Fatalf("delete at another scope: %v %v", found, err)
	}
	if a, found, err := f.cp.DeleteRoleAssignment(f.ctx, owner, f.id(group), atGroup.ID); err != nil || !found || a.ID != atGroup.ID {
		t.Fatalf("delete: %+v %v %v", a, found, err)
	}
	if _, found, err := f.cp.DeleteRoleAssignment(f.ctx, owner, f.id(group), atGroup.ID); err != nil || found {
		t.Fatalf("delete again: %v %v", found, err)
	}
	_, err = f.cp.GetResource(f.ctx, nobody, f.id(registry))
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
}

// TestConcurrentRoleAssignmentCreates: of concurrent creates of one
// assignment name, exactly one creates it; the others conflict.
func TestConcurrentRoleAssignmentCreates(t *testing.T) {
	f := newFixture(t)
	name := ids.New()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			role := []string{authz.AcrPull, authz.AcrPush}[i%2]
			_, errs[i] = f.cp.CreateRoleAssignment(f.ctx, owner, f.id("/subscriptions/"+sub), name, roleAssignment(role, "nobody"))
		}()
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		if err == nil {
			created++
		} else {
			f.wantErr(err, controlplane.ErrConflict, "RoleAssignmentExists")
		}
	}
	if as, _ := f.meta.RoleAssignmentsOfPrincipal(f.ctx, "nobody"); created != 1 || len(as) != 1 {
		t.Fatalf("%d creates won and %d assignments exist, want 1 and 1: %v", created, len(as), errs)
	}
}
