package authz_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/testutil/stores"
)

const (
	sub   = "/subscriptions/5ub"
	group = sub + "/resourceGroups/Team"
	reg   = group + "/providers/Microsoft.ContainerRegistry/registries/myregistry"
)

func TestCheck(t *testing.T) {
	ctx := context.Background()
	meta, _ := stores.New(t)
	e := &authz.Engine{Store: meta}
	assign := func(id, scope, role, principal string) {
		t.Helper()
		if err := meta.CreateRoleAssignment(ctx, store.RoleAssignment{ID: id, Scope: scope, RoleDefinitionID: role, PrincipalID: principal,
			PrincipalType: "ServicePrincipal", TenantID: "t", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	assign("1", sub, authz.Owner, "owner")
	assign("2", group, authz.Contributor, "contributor")
	assign("3", sub, authz.Reader, "reader")
	assign("4", reg, authz.AcrPull, "puller")
	assign("5", "/SUBSCRIPTIONS/5UB/resourcegroups/team/providers/microsoft.containerregistry/registries/MYREGISTRY", authz.AcrPush, "pusher")
	assign("6", group+"x", authz.Owner, "neighbour")
	assign("7", sub, authz.UserAccessAdministrator, "uaa")
	assign("8", reg, "00000000-0000-0000-0000-00000000dead", "ghost")
	assign("9", group, authz.ManagedIdentityOperator, "mio")

	cases := []struct {
		principal, scope, action string
		want                     bool
	}{
		{"owner", reg, "Microsoft.Authorization/roleAssignments/write", true},
		{"owner", "/subscriptions/other", "Microsoft.Resources/subscriptions/resourceGroups/read", false},
		{"contributor", reg, "Microsoft.ContainerRegistry/registries/write", true},
		{"contributor", reg, authz.ActionRegistryPush, true},
		{"contributor", reg, "Microsoft.Authorization/roleAssignments/write", false},
		{"contributor", reg, "microsoft.authorization/ROLEASSIGNMENTS/delete", false},
		{"contributor", sub, "Microsoft.Resources/subscriptions/resourceGroups/write", false},
		{"reader", reg, "Microsoft.ContainerRegistry/registries/read", true},
		{"reader", reg, authz.ActionRegistryPull, true},
		{"reader", reg, authz.ActionRegistryPush, false},
		{"reader", group, "Microsoft.Authorization/roleAssignments/write", false},
		{"puller", reg, authz.ActionRegistryPull, true},
		{"puller", reg + "/repositories/app", authz.ActionRegistryPull, true},
		{"puller", reg, authz.ActionRegistryPush, false},
		{"puller", group, authz.ActionRegistryPull, false},
		{"puller", group + "/providers/Microsoft.ContainerRegistry/registries/myregistry2", authz.ActionRegistryPull, false},
		{"pusher", reg, authz.ActionRegistryPush, true},
		{"pusher", reg, authz.ActionRegistryDelete, false},
		{"neighbour", reg, "Microsoft.ContainerRegistry/registries/read", false},
		{"uaa", reg, "Microsoft.Authorization/roleAssignments/write", true},
		{"uaa", reg, "Microsoft.ContainerRegistry/registries/write", false},
		{"ghost", reg, authz.ActionRegistryPull, false},
		{"mio", group + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", true},
		{"mio", group + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id", "Microsoft.ManagedIdentity/userAssignedIdentities/write", false},
		{"nobody", reg, "Microsoft.ContainerRegistry/registries/read", false},
	}
	for _, c := range cases {
		got, err := e.Check(ctx, c.principal, c.scope, c.action)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s may %s at %s: %v, want %v", c.principal, c.action, c.scope, got, c.want)
		}
	}

	// A removed assignment stops granting with the next check.
	if err := meta.DeleteRoleAssignment(ctx, "4"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.Check(ctx, "puller", reg, authz.ActionRegistryPull); ok {
		t.Fatal("a removed assignment still grants")
	}

	g, err := e.Grants(ctx, "puller")
	if err != nil {
		t.Fatal(err)
	}
	if g.Touches(sub) {
		t.Fatal("a principal with no assignment left touches the subscription")
	}
	g, _ = e.Grants(ctx, "pusher")
	if !g.Touches(sub) || !g.Touches(reg+"/repositories/x") || g.Touches("/subscriptions/other") {
		t.Fatal("Touches: wrong for an assignment on a registry")
	}
	if !g.Below(group) || g.Below(reg) || g.Below(reg+"/repositories/x") {
		t.Fatal("Below: wrong for an assignment on a registry")
	}
}

func TestRoles(t *testing.T) {
	for _, name := range []string{"acrpull", "ACRPUSH", "owner", "user access administrator"} {
		if _, ok := authz.RoleByName(name); !ok {
			t.Errorf("role %q not found", name)
		}
	}
	r, ok := authz.RoleByID("7F951DDA-4ED3-4680-A7CA-43FE172D538D")
	if !ok || r.Name != "AcrPull" {
		t.Fatalf("AcrPull by id: %+v", r)
	}
	for name, want := range map[string]string{"acrpul": "[AcrPull]", "acr": "[AcrDelete AcrImageSigner AcrPull AcrPush]", "Contributer": "[Contributor]", "zzzzzz": "[]"} {
		if got := fmt.Sprint(authz.NearMatches(name)); got != want {
			t.Errorf("near matches of %q: %s, want %s", name, got, want)
		}
	}
}
