package graph

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/store"
)

// Deleting a service principal withdraws what it was given: its role
// assignments and directory roles go with it, and only an administrator
// of its own tenant may do it.
func TestDeleteServicePrincipal(t *testing.T) {
	f := newFixture(t,
		caller{id: "admin", roles: []string{store.RoleGlobalAdministrator}},
		caller{id: "plain"},
		caller{id: "consented"},
		caller{id: "admin2", tenant: "t2", roles: []string{store.RoleGlobalAdministrator}},
	)
	ctx := context.Background()
	now := time.Now()
	if err := f.meta.CreateRoleAssignment(ctx, store.RoleAssignment{ID: "ra1", Scope: "/subscriptions/s", RoleDefinitionID: "r",
		PrincipalID: "consented", PrincipalType: "ServicePrincipal", TenantID: "t", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := f.meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "mi", TenantID: "t", AppID: "mi-app",
		Type: store.PrincipalManagedIdentity, DisplayName: "mi", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		who, id string
		status  int
		code    string
	}{
		{"plain", "consented", 403, "Authorization_RequestDenied"},
		{"admin2", "consented", 404, "Request_ResourceNotFound"},
		{"admin", "absent", 404, "Request_ResourceNotFound"},
		{"admin", "mi", 400, "Request_BadRequest"},
	} {
		if c, raw := f.do(tc.who, "DELETE", "/v1.0/servicePrincipals/"+tc.id, ""); c.status != tc.status || errorCode(c) != tc.code {
			t.Errorf("%s deleting %s: %d %s", tc.who, tc.id, c.status, raw)
		}
	}
	if _, err := f.meta.GetServicePrincipal(ctx, "consented"); err != nil {
		t.Fatalf("a refused deletion removed the principal: %v", err)
	}

	if c, raw := f.do("admin", "DELETE", "/v1.0/servicePrincipals/consented", ""); c.status != 204 {
		t.Fatalf("administrator deleting: %d %s", c.status, raw)
	}
	if _, err := f.meta.GetServicePrincipal(ctx, "consented"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the principal is still there: %v", err)
	}
	if as, err := f.meta.RoleAssignmentsOfPrincipal(ctx, "consented"); err != nil || len(as) != 0 {
		t.Errorf("its role assignments outlived it: %v %v", as, err)
	}
	if c, _ := f.do("admin", "DELETE", "/v1.0/servicePrincipals/consented", ""); c.status != 404 {
		t.Errorf("deleting it again: %d", c.status)
	}

	// The tenant's only Global Administrator cannot delete itself: nobody
	// would be left to give the role.
	if c, raw := f.do("admin", "DELETE", "/v1.0/servicePrincipals/admin", ""); c.status != 400 || !strings.Contains(raw, "last Global Administrator") {
		t.Errorf("the last Global Administrator deleting itself: %d %s", c.status, raw)
	}
	if _, err := f.meta.GetServicePrincipal(ctx, "admin"); err != nil {
		t.Errorf("the refused deletion removed the administrator: %v", err)
	}
}
