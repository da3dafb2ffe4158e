package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/store"
)

// testVersionsFollowWrites checks, for a store that vouches for its
// versions, that a write to each group of tables moves that group's
// version: every cache keyed by them relies on it.
func testVersionsFollowWrites(t *testing.T, s store.Store) {
	vs, ok := s.(store.Versions)
	if !ok {
		t.Skip("the store keeps no versions")
	}
	if _, ok := vs.Version(store.DirectoryTables); !ok {
		t.Skip("the store does not vouch for its versions (other processes write it too)")
	}
	ctx := context.Background()
	now := time.Now()
	moves := func(tables store.Tables, name string, write func()) {
		t.Helper()
		before, _ := vs.Version(tables)
		write()
		if after, _ := vs.Version(tables); after == before {
			t.Errorf("%s did not move the version of its tables", name)
		}
	}
	moves(store.DirectoryTables, "CreateTenant", func() {
		must(t, s.CreateTenant(ctx, store.Tenant{ID: "t-" + registry, Domain: registry + ".example", CreatedAt: now}))
	})
	moves(store.RegistryTables, "CreateRegistry", func() {
		must(t, s.CreateRegistry(ctx, store.Registry{Name: registry, TenantID: "t-" + registry, ResourceID: "/r", CreatedAt: now}))
	})
	moves(store.RoleAssignmentTables, "CreateRoleAssignment", func() {
		must(t, s.CreateRoleAssignment(ctx, store.RoleAssignment{ID: "a1", Scope: "/subscriptions/s", RoleDefinitionID: "r",
			PrincipalID: "p", PrincipalType: "ServicePrincipal", TenantID: "t-" + registry, CreatedAt: now}))
	})
	yes := true
	moves(store.DirectoryTables, "CreateUser", func() {
		must(t, s.CreateUser(ctx, store.User{ObjectID: "u1", TenantID: "t-" + registry, UserPrincipalName: "u@" + registry + ".example", PasswordHash: "h", CreatedAt: now}))
	})
	moves(store.DirectoryTables, "AddDirectoryRole", func() {
		must(t, s.AddDirectoryRole(ctx, "t-"+registry, "u1", store.RoleUserAdministrator))
	})
	moves(store.DirectoryTables, "RemoveDirectoryRole", func() {
		must(t, s.RemoveDirectoryRole(ctx, "t-"+registry, "u1", store.RoleUserAdministrator))
	})
	moves(store.DirectoryTables, "UpdateUser", func() {
		must(t, s.UpdateUser(ctx, "u1", store.UserUpdate{Disabled: &yes}))
	})
	moves(store.DirectoryTables, "DeleteUser", func() {
		must(t, s.DeleteUser(ctx, "u1"))
	})
	moves(store.RoleAssignmentTables, "DeleteUser", func() {
		must(t, s.CreateUser(ctx, store.User{ObjectID: "u2", TenantID: "t-" + registry, UserPrincipalName: "u2@" + registry + ".example", PasswordHash: "h", CreatedAt: now}))
		must(t, s.DeleteUser(ctx, "u2"))
	})
	repo := store.Repo{Registry: registry, Name: "app"}
	d := dg("layer")
	link(t, s, repo, d, 5)
	moves(store.ManifestTables, "PutManifest", func() {
		must(t, s.PutManifest(ctx, repo, image("app:v1", d), "v1"))
	})
	no := false
	moves(store.ManifestTables, "UpdateTagAttributes", func() {
		must(t, s.UpdateTagAttributes(ctx, repo, "v1", store.AttributesUpdate{ReadEnabled: &no}))
	})
	moves(store.ManifestTables, "UpdateRepositoryAttributes", func() {
		must(t, s.UpdateRepositoryAttributes(ctx, repo, store.AttributesUpdate{ReadEnabled: &no}))
	})
}
