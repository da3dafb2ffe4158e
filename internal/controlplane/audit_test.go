package controlplane_test

import (
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/store"
)

// events are what the trail holds for sub since the fixture began.
func (f *fixture) events() []store.Event {
	f.t.Helper()
	es, err := f.meta.ListEvents(f.ctx, store.EventQuery{TenantID: tenant, SubscriptionID: sub, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Minute)})
	f.must(err)
	return es
}

// one runs change and returns the one event it recorded.
func (f *fixture) one(change func()) store.Event {
	f.t.Helper()
	before := len(f.events())
	change()
	es := f.events()
	if len(es) != before+1 {
		f.t.Fatalf("%d events recorded, want 1: %+v", len(es)-before, es[:len(es)-before])
	}
	return es[0]
}

func (f *fixture) none(change func()) {
	f.t.Helper()
	before := len(f.events())
	change()
	if es := f.events(); len(es) != before {
		f.t.Fatalf("an event was recorded: %+v", es[0])
	}
}

// wantEvent checks the fields of e that say who did what, and where from.
func wantEvent(t *testing.T, e store.Event, c controlplane.Caller, op, target, status string, says ...string) {
	t.Helper()
	if e.TenantID != c.TenantID || e.CallerID != c.ObjectID || e.CallerKind != audit.ServicePrincipal || e.SubscriptionID != sub ||
		e.ClientIP != "192.0.2.1" || e.CorrelationID != "corr-1" || e.Operation != op || !strings.EqualFold(e.Target, target) || e.Status != status {
		t.Fatalf("event %+v, want %s by %s on %s: %s", e, op, c.ObjectID, target, status)
	}
	for _, s := range says {
		if !strings.Contains(e.Description, s) {
			t.Fatalf("description %q does not say %q", e.Description, s)
		}
	}
}

func TestChangesAreAudited(t *testing.T) {
	f := newFixture(t)
	f.ctx = audit.WithSource(f.ctx, audit.Source{ClientIP: "192.0.2.1", CorrelationID: "corr-1"})

	e := f.one(func() { f.group("Team") })
	wantEvent(t, e, owner, "Microsoft.Resources/subscriptions/resourceGroups/write", group, audit.Succeeded, "created")
	if e.ResourceGroup != "Team" {
		t.Fatalf("resource group of the event: %q", e.ResourceGroup)
	}

	e = f.one(func() { f.mustPut(contributor, registry, "", "", "", true) })
	wantEvent(t, e, contributor, "Microsoft.ContainerRegistry/registries/write", registry, audit.Succeeded, "created")

	// A registry's settings: what changed, from what to what.
	e = f.one(func() {
		_, err := f.cp.PatchResource(f.ctx, owner, f.id(registry), input("", `{"adminUserEnabled":true}`, ""))
		f.must(err)
	})
	wantEvent(t, e, owner, "Microsoft.ContainerRegistry/registries/write", registry, audit.Succeeded, "properties.adminUserEnabled false -> true")
	if strings.Contains(e.Description, "anonymousPullEnabled") || strings.Contains(e.Description, "loginServer") {
		t.Fatalf("description names what did not change: %q", e.Description)
	}

	// The new admin password is in the answer, never in the trail.
	var value string
	e = f.one(func() {
		c, err := f.cp.RegenerateRegistryCredential(f.ctx, owner, f.id(registry), "PASSWORD")
		f.must(err)
		value = *c.Passwords[0].Value
	})
	wantEvent(t, e, owner, "Microsoft.ContainerRegistry/registries/regenerateCredential/action", registry, audit.Succeeded, "admin password password renewed")
	if strings.Contains(e.Description, value) {
		t.Fatal("the password is in the trail")
	}

	// Role assignments: to whom, which role; created and deleted.
	var a store.RoleAssignment
	e = f.one(func() { a = f.assign(registry, authz.AcrPull, reader.ObjectID) })
	wantEvent(t, e, owner, "Microsoft.Authorization/roleAssignments/write", registry+"/providers/Microsoft.Authorization/roleAssignments/"+a.ID,
		audit.Succeeded, "role AcrPull to ServicePrincipal reader")
	if e.ResourceGroup != "Team" {
		t.Fatalf("resource group of the event: %q", e.ResourceGroup)
	}
	e = f.one(func() {
		_, found, err := f.cp.DeleteRoleAssignment(f.ctx, owner, f.id(registry), a.ID)
		if !found || err != nil {
			t.Fatalf("delete: %v %v", found, err)
		}
	})
	wantEvent(t, e, owner, "Microsoft.Authorization/roleAssignments/delete", registry+"/providers/Microsoft.Authorization/roleAssignments/"+a.ID,
		audit.Succeeded, "deleted role AcrPull to ServicePrincipal reader")

	// Refused for lack of rights: recorded, as Failed, with why.
	e = f.one(func() {
		_, err := f.cp.CreateRoleAssignment(f.ctx, contributor, f.id(registry), "00000000-0000-0000-0000-0000000000aa",
			controlplane.NewRoleAssignment{RoleDefinitionID: authz.Owner, PrincipalID: contributor.ObjectID})
		f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	})
	wantEvent(t, e, contributor, "Microsoft.Authorization/roleAssignments/write", registry+"/providers/Microsoft.Authorization/roleAssignments/00000000-0000-0000-0000-0000000000aa",
		audit.Failed, "role Owner to", "AuthorizationFailed")
	e = f.one(func() {
		_, err := f.cp.PatchResource(f.ctx, reader, f.id(registry), input("", `{"anonymousPullEnabled":true}`, ""))
		f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	})
	wantEvent(t, e, reader, "Microsoft.ContainerRegistry/registries/write", registry, audit.Failed, "AuthorizationFailed")
	e = f.one(func() {
		_, err := f.cp.DeleteResource(f.ctx, reader, f.id(registry))
		f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	})
	wantEvent(t, e, reader, "Microsoft.ContainerRegistry/registries/delete", registry, audit.Failed, "AuthorizationFailed")
	if !strings.HasPrefix(e.Description, "AuthorizationFailed") {
		t.Fatalf("a refused deletion says what it did not do: %q", e.Description)
	}

	// Refused as bad input, naming nothing, or conflicting: nothing
	// changed, nothing recorded; nor is another tenant's attempt here.
	f.none(func() {
		_, err := f.cp.CreateRoleAssignment(f.ctx, owner, f.id(registry), "not-a-guid", controlplane.NewRoleAssignment{RoleDefinitionID: authz.AcrPull, PrincipalID: "reader"})
		f.wantErr(err, controlplane.ErrBadRequest, "InvalidRoleAssignmentId")
		_, err = f.cp.PatchResource(f.ctx, owner, f.id(group+"/providers/Microsoft.ContainerRegistry/registries/absent"), input("", `{}`, ""))
		f.wantErr(err, controlplane.ErrNotFound, "ResourceNotFound")
		_, _, err = f.cp.PutResource(f.ctx, stranger, f.id(registry), input("", "", ""))
		f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
		_, _, err = f.cp.PutResourceGroup(f.ctx, owner, store.ResourceGroup{SubscriptionID: sub, Name: "Team", Location: "elsewhere"})
		f.wantErr(err, controlplane.ErrConflict, "InvalidResourceGroupLocation")
	})

	// A machine's credential: its private key is in the answer only.
	f.mustPut(owner, vm, "", "", "", true)
	var key string
	e = f.one(func() {
		c, err := f.cp.NewMachineCredential(f.ctx, contributor, f.id(vm))
		f.must(err)
		key = c.PrivateKey
	})
	wantEvent(t, e, contributor, "Microsoft.Compute/virtualMachines/generateMachineCredential/action", vm, audit.Succeeded, "new machine credential")
	if strings.Contains(e.Description, key) || strings.Contains(e.Description, "PRIVATE") {
		t.Fatal("the private key is in the trail")
	}

	// A group's deletion is one change, whatever goes with it.
	e = f.one(func() {
		found, err := f.cp.DeleteResourceGroup(f.ctx, owner, sub, "team")
		if !found || err != nil {
			t.Fatalf("delete group: %v %v", found, err)
		}
	})
	wantEvent(t, e, owner, "Microsoft.Resources/subscriptions/resourceGroups/delete", group, audit.Succeeded, "deleted")
}
