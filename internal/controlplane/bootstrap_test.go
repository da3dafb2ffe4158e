package controlplane_test

import (
	"testing"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

func TestEnsureOwner(t *testing.T) {
	f := newFixture(t)
	for range 2 {
		f.must(controlplane.EnsureOwner(f.ctx, f.meta, tenant, sub, "nobody", controlplane.PrincipalTypeServicePrincipal))
	}
	as, err := f.meta.RoleAssignmentsOfPrincipal(f.ctx, "nobody")
	if err != nil || len(as) != 1 || as[0].RoleDefinitionID != authz.Owner || as[0].Scope != "/subscriptions/"+sub {
		t.Fatalf("assignments after EnsureOwner twice: %+v %v", as, err)
	}
	if _, err := f.cp.GetSubscription(f.ctx, nobody, sub); err != nil {
		t.Fatalf("the new owner does not see its subscription: %v", err)
	}
}

// TestEnsureRegistry: the server's own registry is made with its group
// when missing, found when there, and given its resource record when the
// data plane has it already under the same resource id.
func TestEnsureRegistry(t *testing.T) {
	f := newFixture(t)
	s, err := f.meta.GetSubscription(f.ctx, sub)
	f.must(err)
	r, err := f.cp.EnsureRegistry(f.ctx, s, "berth", "local", "default")
	want := resourceid.Resource(sub, "berth", resourcetype.Registry, "default").String()
	if err != nil || r.ID != want || r.Location != "local" || get(f.fields(r.Properties), "loginServer") != "default.cr.test" {
		t.Fatalf("first: %+v %v", r, err)
	}
	if g, err := f.meta.GetResourceGroup(f.ctx, sub, "berth"); err != nil || g.Location != "local" {
		t.Fatalf("the group: %+v %v", g, err)
	}
	if reg, err := f.meta.GetRegistry(f.ctx, "default"); err != nil || reg.ResourceID != want || reg.TenantID != tenant {
		t.Fatalf("the data plane's registry: %+v %v", reg, err)
	}
	again, err := f.cp.EnsureRegistry(f.ctx, s, "berth", "local", "default")
	if err != nil || again.ID != r.ID || !again.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("again: %+v %v", again, err)
	}

	// A data directory made before registries were resources.
	old := resourceid.Resource(sub, "berth", resourcetype.Registry, "older").String()
	f.must(f.meta.CreateRegistry(f.ctx, store.Registry{Name: "older", TenantID: tenant, ResourceID: old, CreatedAt: time.Now()}))
	if r, err := f.cp.EnsureRegistry(f.ctx, s, "berth", "local", "older"); err != nil || r.ID != old {
		t.Fatalf("an older registry: %+v %v", r, err)
	}
	if _, err := f.cp.GetResource(f.ctx, reader, f.id(old)); err != nil {
		t.Fatalf("the older registry has no resource: %v", err)
	}

	// A name another resource's registry holds is refused.
	f.group("Team")
	f.mustPut(owner, registry, "", "", "", true)
	_, err = f.cp.EnsureRegistry(f.ctx, s, "berth", "local", "myregistry")
	f.wantErr(err, controlplane.ErrConflict, "AlreadyInUse")
}
