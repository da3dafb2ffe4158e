package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/store"
)

// testUpdateUser: each field of an update is set alone, the others kept;
// an update of nobody is ErrNotFound; setting what is already set is no
// error.
func testUpdateUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Domain: "t1.example", CreatedAt: now}))
	ada := store.User{ObjectID: "u1", TenantID: "t1", UserPrincipalName: "ada@t1.example", DisplayName: "Ada", PasswordHash: "h1", CreatedAt: now}
	must(t, s.CreateUser(ctx, ada))
	bob := store.User{ObjectID: "u2", TenantID: "t1", UserPrincipalName: "bob@t1.example", DisplayName: "Bob", PasswordHash: "hb",
		Disabled: true, ForceChangePassword: true, SessionEpoch: 7, CreatedAt: now}
	must(t, s.CreateUser(ctx, bob))
	get := func(id string) store.User {
		t.Helper()
		u, err := s.GetUser(ctx, id)
		must(t, err)
		return u
	}
	if got := get("u2"); got != bob {
		t.Fatalf("a user created disabled and to change its password: %+v", got)
	}

	name, hash, yes, no := "Ada L.", "h2", true, false
	must(t, s.UpdateUser(ctx, "u1", store.UserUpdate{Disabled: &yes}))
	ada.Disabled = true
	if got := get("u1"); got != ada {
		t.Fatalf("after disabling: %+v, want %+v", got, ada)
	}
	must(t, s.UpdateUser(ctx, "u1", store.UserUpdate{Disabled: &yes}))
	must(t, s.UpdateUser(ctx, "u1", store.UserUpdate{PasswordHash: &hash, ForceChangePassword: &yes}))
	ada.PasswordHash, ada.ForceChangePassword = hash, true
	if got := get("u1"); got != ada {
		t.Fatalf("after a new password: %+v, want %+v", got, ada)
	}
	must(t, s.UpdateUser(ctx, "u1", store.UserUpdate{DisplayName: &name, Disabled: &no, ForceChangePassword: &no}))
	ada.DisplayName, ada.Disabled, ada.ForceChangePassword = name, false, false
	if got := get("u1"); got != ada {
		t.Fatalf("after a rename and enabling: %+v, want %+v", got, ada)
	}
	if got, err := s.GetUserByUPN(ctx, "t1", "ADA@t1.example"); err != nil || got != ada {
		t.Fatalf("GetUserByUPN after updates = %+v, %v", got, err)
	}
	if users, err := s.ListUsers(ctx, "t1"); err != nil || len(users) != 2 || users[0] != ada || users[1] != bob {
		t.Fatalf("ListUsers after updates = %+v, %v", users, err)
	}
	// Revoking sessions moves the epoch on, by itself or with a change,
	// each time.
	must(t, s.UpdateUser(ctx, "u1", store.UserUpdate{RevokeSessions: true}))
	must(t, s.UpdateUser(ctx, "u1", store.UserUpdate{Disabled: &yes, RevokeSessions: true}))
	ada.SessionEpoch, ada.Disabled = 2, true
	if got := get("u1"); got != ada {
		t.Fatalf("after revoking sessions twice: %+v, want %+v", got, ada)
	}
	must(t, s.UpdateUser(ctx, "u1", store.UserUpdate{}))
	wantErr(t, s.UpdateUser(ctx, "nobody", store.UserUpdate{Disabled: &yes}), store.ErrNotFound)
	wantErr(t, s.UpdateUser(ctx, "nobody", store.UserUpdate{RevokeSessions: true}), store.ErrNotFound)
	wantErr(t, s.UpdateUser(ctx, "nobody", store.UserUpdate{}), store.ErrNotFound)
	if got := get("u2"); got != bob {
		t.Fatalf("another user changed: %+v", got)
	}
}

// testDeleteUser: a deleted user is gone with its directory roles, role
// assignments and ownerships, and its name is free again; deleting it
// again is ErrNotFound; nobody else's are touched.
func testDeleteUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedSubscription(t, s)
	now := time.Now().UTC()
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o1", AppID: "a1", TenantID: "t1", DisplayName: "one", CreatedAt: now}))
	for _, id := range []string{"u1", "u2"} {
		must(t, s.CreateUser(ctx, store.User{ObjectID: id, TenantID: "t1", UserPrincipalName: id + "@t1.example", PasswordHash: "h", CreatedAt: now}))
		must(t, s.AddDirectoryRole(ctx, "t1", id, store.RoleUserAdministrator))
		must(t, s.AddApplicationOwner(ctx, "o1", id))
		must(t, s.CreateRoleAssignment(ctx, store.RoleAssignment{ID: "ra-" + id, Scope: "/subscriptions/s1", RoleDefinitionID: "r",
			PrincipalID: id, PrincipalType: "User", TenantID: "t1", CreatedAt: now}))
	}
	must(t, s.DeleteUser(ctx, "u1"))
	wantErr(t, s.DeleteUser(ctx, "u1"), store.ErrNotFound)
	_, err := s.GetUser(ctx, "u1")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetUserByUPN(ctx, "t1", "u1@t1.example")
	wantErr(t, err, store.ErrNotFound)
	has := func(id string) bool {
		t.Helper()
		ok, err := s.HasDirectoryRole(ctx, "t1", id, store.RoleUserAdministrator)
		must(t, err)
		return ok
	}
	owner := func(id string) bool {
		t.Helper()
		ok, err := s.IsApplicationOwner(ctx, "o1", id)
		must(t, err)
		return ok
	}
	assigned := func(id string) bool {
		t.Helper()
		as, err := s.RoleAssignmentsOfPrincipal(ctx, id)
		must(t, err)
		return len(as) > 0
	}
	if has("u1") || owner("u1") || assigned("u1") {
		t.Fatalf("a deleted user kept a role %v, an ownership %v or an assignment %v", has("u1"), owner("u1"), assigned("u1"))
	}
	if !has("u2") || !owner("u2") || !assigned("u2") {
		t.Fatal("deleting one user took another's roles, ownerships or assignments")
	}
	if users, err := s.ListUsers(ctx, "t1"); err != nil || len(users) != 1 || users[0].ObjectID != "u2" {
		t.Fatalf("ListUsers after a delete = %+v, %v", users, err)
	}
	// The name can be taken again, by a new object.
	must(t, s.CreateUser(ctx, store.User{ObjectID: "u3", TenantID: "t1", UserPrincipalName: "U1@t1.example", PasswordHash: "h", CreatedAt: now}))
	if has("u3") {
		t.Fatal("a new user with a deleted one's name inherited its role")
	}
}

// testRemoveDirectoryRole: a role removed is no longer held, in that
// tenant only; removing one not held is ErrNotFound.
func testRemoveDirectoryRole(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	for _, id := range []string{"t1", "t2"} {
		must(t, s.CreateTenant(ctx, store.Tenant{ID: id, Domain: id + ".example", CreatedAt: now}))
	}
	must(t, s.CreateUser(ctx, store.User{ObjectID: "u1", TenantID: "t1", UserPrincipalName: "u1@t1.example", PasswordHash: "h", CreatedAt: now}))
	must(t, s.AddDirectoryRole(ctx, "t1", "u1", store.RoleUserAdministrator))
	must(t, s.AddDirectoryRole(ctx, "t1", "u1", store.RoleApplicationAdministrator))
	must(t, s.AddDirectoryRole(ctx, "t2", "u1", store.RoleUserAdministrator))
	has := func(tenant, role string) bool {
		t.Helper()
		ok, err := s.HasDirectoryRole(ctx, tenant, "u1", role)
		must(t, err)
		return ok
	}
	must(t, s.RemoveDirectoryRole(ctx, "t1", "u1", store.RoleUserAdministrator))
	if has("t1", store.RoleUserAdministrator) || !has("t1", store.RoleApplicationAdministrator) || !has("t2", store.RoleUserAdministrator) {
		t.Fatal("RemoveDirectoryRole removed the wrong roles")
	}
	wantErr(t, s.RemoveDirectoryRole(ctx, "t1", "u1", store.RoleUserAdministrator), store.ErrNotFound)
	wantErr(t, s.RemoveDirectoryRole(ctx, "t1", "nobody", store.RoleUserAdministrator), store.ErrNotFound)
	// Given again after removal, it is held again.
	must(t, s.AddDirectoryRole(ctx, "t1", "u1", store.RoleUserAdministrator))
	if !has("t1", store.RoleUserAdministrator) {
		t.Fatal("a role given again is not held")
	}
}

// testLastAdministrator: a tenant whose Global Administrators are users
// cannot lose the last enabled one by disabling, deleting or taking the
// role from it, and nothing of the refused change is kept; a service
// principal that is Global Administrator counts as one; a tenant that
// has no Global Administrator is not held to having one.
func testLastAdministrator(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	for _, id := range []string{"t1", "t2"} {
		must(t, s.CreateTenant(ctx, store.Tenant{ID: id, Domain: id + ".example", CreatedAt: now}))
	}
	user := func(tenant, id string, roles ...string) {
		t.Helper()
		must(t, s.CreateUser(ctx, store.User{ObjectID: id, TenantID: tenant, UserPrincipalName: id + "@" + tenant + ".example", DisplayName: id, PasswordHash: "h", CreatedAt: now}))
		for _, r := range roles {
			must(t, s.AddDirectoryRole(ctx, tenant, id, r))
		}
	}
	user("t1", "ga1", store.RoleGlobalAdministrator)
	user("t1", "ga2", store.RoleGlobalAdministrator)
	user("t1", "plain")
	yes, no := true, false
	name := "renamed"

	must(t, s.UpdateUser(ctx, "ga1", store.UserUpdate{Disabled: &yes}))
	// ga2 is now the last one that can act.
	wantErr(t, s.UpdateUser(ctx, "ga2", store.UserUpdate{Disabled: &yes, DisplayName: &name}), store.ErrLastAdministrator)
	wantErr(t, s.DeleteUser(ctx, "ga2"), store.ErrLastAdministrator)
	wantErr(t, s.RemoveDirectoryRole(ctx, "t1", "ga2", store.RoleGlobalAdministrator), store.ErrLastAdministrator)
	u, err := s.GetUser(ctx, "ga2")
	must(t, err)
	if u.Disabled || u.DisplayName != "ga2" {
		t.Fatalf("a refused update was kept: %+v", u)
	}
	if ok, err := s.HasDirectoryRole(ctx, "t1", "ga2", store.RoleGlobalAdministrator); err != nil || !ok {
		t.Fatalf("a refused change took the role: %v, %v", ok, err)
	}
	// Changes that leave it able to act are not refused.
	must(t, s.UpdateUser(ctx, "ga2", store.UserUpdate{DisplayName: &name, ForceChangePassword: &yes}))
	must(t, s.UpdateUser(ctx, "ga2", store.UserUpdate{Disabled: &no}))
	must(t, s.DeleteUser(ctx, "plain"))
	// The disabled administrator may go.
	must(t, s.RemoveDirectoryRole(ctx, "t1", "ga1", store.RoleGlobalAdministrator))
	must(t, s.DeleteUser(ctx, "ga1"))

	// A service principal holding the role keeps the tenant administered.
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o1", AppID: "a1", TenantID: "t1", DisplayName: "boot", CreatedAt: now}))
	must(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "sp1", TenantID: "t1", AppID: "a1", AppOwnerTenantID: "t1", Type: store.PrincipalApplication, CreatedAt: now}))
	must(t, s.AddDirectoryRole(ctx, "t1", "sp1", store.RoleGlobalAdministrator))
	must(t, s.DeleteUser(ctx, "ga2"))
	wantErr(t, s.RemoveDirectoryRole(ctx, "t1", "sp1", store.RoleGlobalAdministrator), store.ErrLastAdministrator)

	// Tenant t2 never had one: its users come and go freely, and another
	// tenant's administrators do not count for it.
	user("t2", "x", store.RoleUserAdministrator)
	must(t, s.UpdateUser(ctx, "x", store.UserUpdate{Disabled: &yes}))
	must(t, s.RemoveDirectoryRole(ctx, "t2", "x", store.RoleUserAdministrator))
	must(t, s.DeleteUser(ctx, "x"))
	user("t2", "y", store.RoleGlobalAdministrator)
	wantErr(t, s.DeleteUser(ctx, "y"), store.ErrLastAdministrator)
}

// testLastAdministratorRace: of concurrent changes that each take one of a
// tenant's Global Administrators away (disabling, deleting, removing the
// role), all but one succeed and one administrator is left.
func testLastAdministratorRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	const n = 6
	yes := true
	for round := range 3 {
		tenant := fmt.Sprintf("t%d", round)
		must(t, s.CreateTenant(ctx, store.Tenant{ID: tenant, Domain: tenant + ".example", CreatedAt: now}))
		for i := range n {
			id := fmt.Sprintf("%s-ga%d", tenant, i)
			must(t, s.CreateUser(ctx, store.User{ObjectID: id, TenantID: tenant, UserPrincipalName: id + "@" + tenant + ".example", PasswordHash: "h", CreatedAt: now}))
			must(t, s.AddDirectoryRole(ctx, tenant, id, store.RoleGlobalAdministrator))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, last int
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("%s-ga%d", tenant, i)
				var err error
				switch i % 3 {
				case 0:
					err = s.UpdateUser(ctx, id, store.UserUpdate{Disabled: &yes})
				case 1:
					err = s.DeleteUser(ctx, id)
				default:
					err = s.RemoveDirectoryRole(ctx, tenant, id, store.RoleGlobalAdministrator)
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrLastAdministrator):
					last++
				default:
					t.Errorf("concurrent change of %s: %v", id, err)
				}
			}()
		}
		wg.Wait()
		if ok != n-1 || last != 1 {
			t.Fatalf("round %d: %d changes made, %d refused as the last administrator", round, ok, last)
		}
		left := 0
		for i := range n {
			id := fmt.Sprintf("%s-ga%d", tenant, i)
			u, err := s.GetUser(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			must(t, err)
			held, err := s.HasDirectoryRole(ctx, tenant, id, store.RoleGlobalAdministrator)
			must(t, err)
			if held && !u.Disabled {
				left++
			}
		}
		if left != 1 {
			t.Fatalf("round %d: %d Global Administrators left that can act", round, left)
		}
	}
}
