package controlplane_test

import (
	"fmt"
	"testing"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/store"
)

// TestSubscriptions: a caller sees the subscriptions of its tenant where it
// holds a role; any other is not found, whether it exists or not.
func TestSubscriptions(t *testing.T) {
	f := newFixture(t)
	subs, err := f.cp.ListSubscriptions(f.ctx, reader)
	if err != nil || len(subs) != 1 || subs[0].ID != sub || subs[0].TenantID != tenant {
		t.Fatalf("subscriptions of a reader: %+v %v", subs, err)
	}
	if subs, err := f.cp.ListSubscriptions(f.ctx, nobody); err != nil || len(subs) != 0 {
		t.Fatalf("a principal with no role sees subscriptions: %+v %v", subs, err)
	}
	if s, err := f.cp.GetSubscription(f.ctx, reader, sub); err != nil || s.ID != sub {
		t.Fatalf("subscription: %+v %v", s, err)
	}
	_, err = f.cp.GetSubscription(f.ctx, nobody, sub)
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
	// Another tenant's subscription does not exist for this caller.
	_, err = f.cp.GetSubscription(f.ctx, stranger, sub)
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
	_, _, err = f.cp.PutResourceGroup(f.ctx, stranger, store.ResourceGroup{SubscriptionID: sub, Name: "g", Location: "here"})
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
	_, err = f.cp.GetSubscription(f.ctx, owner, "no-such-subscription")
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
}

func TestResourceGroups(t *testing.T) {
	f := newFixture(t)
	put := func(c controlplane.Caller, name, location string, tags map[string]string) (store.ResourceGroup, bool, error) {
		return f.cp.PutResourceGroup(f.ctx, c, store.ResourceGroup{SubscriptionID: sub, Name: name, Location: location, Tags: tags})
	}
	g, created, err := put(owner, "Team", "westeurope", map[string]string{"team": "a"})
	if err != nil || !created || g.Name != "Team" || g.Location != "westeurope" {
		t.Fatalf("create: %+v %v %v", g, created, err)
	}
	// PUT again is an update of the tags, in any case of the name and of
	// the location's spelling.
	g, created, err = put(owner, "team", "West Europe", map[string]string{"team": "b"})
	if err != nil || created || g.Name != "Team" || g.Tags["team"] != "b" {
		t.Fatalf("update: %+v %v %v", g, created, err)
	}
	_, _, err = put(owner, "Team", "eastus", nil)
	f.wantErr(err, controlplane.ErrConflict, "InvalidResourceGroupLocation")
	_, _, err = put(owner, "other", "", nil)
	f.wantErr(err, controlplane.ErrBadRequest, "LocationRequired")
	for _, bad := range []string{"bad.name.", "has space", "a/b", fmt.Sprintf("%091d", 0)} {
		_, _, err = put(owner, bad, "x", nil)
		f.wantErr(err, controlplane.ErrBadRequest, "InvalidResourceGroup")
	}
	if _, created, err := put(contributor, "g2", "x", nil); err != nil || !created {
		t.Fatalf("a contributor's create: %v %v", created, err)
	}
	_, _, err = put(reader, "g3", "x", nil)
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	if _, err := f.meta.GetResourceGroup(f.ctx, sub, "g3"); err == nil {
		t.Fatal("a refused create made the group")
	}

	if g, err := f.cp.GetResourceGroup(f.ctx, reader, sub, "TEAM"); err != nil || g.Name != "Team" {
		t.Fatalf("get in another case: %+v %v", g, err)
	}
	_, err = f.cp.GetResourceGroup(f.ctx, reader, sub, "none")
	f.wantErr(err, controlplane.ErrNotFound, "ResourceGroupNotFound")
	_, err = f.cp.GetResourceGroup(f.ctx, nobody, sub, "Team")
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	if gs, err := f.cp.ListResourceGroups(f.ctx, reader, sub); err != nil || len(gs) != 2 {
		t.Fatalf("groups: %+v %v", gs, err)
	}
	if gs, err := f.cp.ListResourceGroups(f.ctx, nobody, sub); err != nil || len(gs) != 0 {
		t.Fatalf("groups listed to a principal with no role: %+v %v", gs, err)
	}
	// A Reader of one group lists that group only.
	f.assign(group, authz.Reader, "nobody")
	if gs, err := f.cp.ListResourceGroups(f.ctx, nobody, sub); err != nil || len(gs) != 1 || gs[0].Name != "Team" {
		t.Fatalf("groups of a group's reader: %+v %v", gs, err)
	}

	_, err = f.cp.DeleteResourceGroup(f.ctx, reader, sub, "Team")
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	if found, err := f.cp.DeleteResourceGroup(f.ctx, contributor, sub, "g2"); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	_, err = f.cp.DeleteResourceGroup(f.ctx, contributor, sub, "g2")
	f.wantErr(err, controlplane.ErrNotFound, "ResourceGroupNotFound")
}

// TestDeleteResourceGroup: a group goes with everything in it, what its
// resources stand for and the role assignments at or below it.
func TestDeleteResourceGroup(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.mustPut(owner, registry, "", "", "", true)
	principal := get(f.fields(f.mustPut(owner, identity, "", "", "", true).Properties), "principalId").(string)
	f.assign(group, authz.Reader, "nobody")
	f.assign(registry, authz.AcrPull, "nobody")

	if found, err := f.cp.DeleteResourceGroup(f.ctx, owner, sub, "team"); err != nil || !found {
		t.Fatalf("delete group: %v %v", found, err)
	}
	if f.principalExists(principal) {
		t.Fatal("the identity's principal outlived its group")
	}
	if _, err := f.meta.GetRegistry(f.ctx, "myregistry"); err == nil {
		t.Fatal("the registry outlived its group")
	}
	if as, _ := f.meta.RoleAssignmentsOfPrincipal(f.ctx, "nobody"); len(as) != 0 {
		t.Fatalf("assignments outlived the group: %+v", as)
	}
	if rs, _ := f.meta.ListResources(f.ctx, store.ResourceQuery{SubscriptionID: sub}); len(rs) != 0 {
		t.Fatalf("resources outlived the group: %v", names(rs))
	}
	_, err := f.cp.GetResource(f.ctx, owner, f.id(identity))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceGroupNotFound")
	_, err = f.cp.DeleteResourceGroup(f.ctx, owner, sub, "Team")
	f.wantErr(err, controlplane.ErrNotFound, "ResourceGroupNotFound")
}
