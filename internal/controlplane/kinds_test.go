package controlplane_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// TestRegistryCreateAndReplace: a registry resource is a live registry at
// its login server; a PUT of an existing one replaces it, so what it
// leaves out takes its default again.
func TestRegistryCreateAndReplace(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	r := f.mustPut(contributor, registry, `{"name":"standard"}`, `{"adminUserEnabled":true}`, "", true)
	p := f.fields(r.Properties)
	if r.ID != registry || r.Type != resourcetype.Registry || r.Name != "myRegistry" || r.Location != "here" ||
		p["loginServer"] != "myregistry.cr.test" || p["adminUserEnabled"] != true || p["anonymousPullEnabled"] != false ||
		get(p, "policies", "azureADAuthenticationAsArmPolicy", "status") != "enabled" || p["provisioningState"] != "Succeeded" ||
		get(f.fields(r.SKU), "name") != "Standard" || get(f.fields(r.SKU), "tier") != "Standard" {
		t.Fatalf("create: %+v %s %s", r, r.Properties, r.SKU)
	}
	reg, err := f.meta.GetRegistry(f.ctx, "myregistry")
	if err != nil || reg.TenantID != tenant || reg.ResourceID != registry {
		t.Fatalf("the data plane's registry: %+v %v", reg, err)
	}

	// The id is matched in any case and kept canonical.
	lower := strings.ToLower(registry)
	if g, err := f.cp.GetResource(f.ctx, reader, f.id(lower)); err != nil || g.ID != registry || g.Name != "myRegistry" {
		t.Fatalf("get in lower case: %+v %v", g, err)
	}
	r = f.mustPut(owner, lower, "", `{"anonymousPullEnabled":true,"policies":{"azureADAuthenticationAsArmPolicy":{"status":"Disabled"}}}`, "", false)
	p = f.fields(r.Properties)
	if p["adminUserEnabled"] != false || p["anonymousPullEnabled"] != true || get(p, "policies", "azureADAuthenticationAsArmPolicy", "status") != "disabled" ||
		r.Location != "here" || get(f.fields(r.SKU), "name") != "Basic" || r.ID != registry {
		t.Fatalf("replace: %+v %s %s", r, r.Properties, r.SKU)
	}
	r = f.mustPut(owner, registry, `{"name":"Premium"}`, "", "", false)
	if p := f.fields(r.Properties); p["anonymousPullEnabled"] != false || get(p, "policies", "azureADAuthenticationAsArmPolicy", "status") != "enabled" {
		t.Fatalf("a PUT without properties keeps what the last one set: %s", r.Properties)
	}
}

// TestRegistryPatch: a PATCH changes only what it states.
func TestRegistryPatch(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.mustPut(owner, registry, `{"name":"Premium"}`, `{"anonymousPullEnabled":true}`, "", true)
	if _, err := f.cp.PatchResource(f.ctx, owner, f.id(registry), controlplane.ResourceInput{Tags: map[string]string{"team": "a"}}); err != nil {
		t.Fatal(err)
	}
	r, err := f.cp.PatchResource(f.ctx, contributor, f.id(registry), input("", `{"adminUserEnabled":true}`, ""))
	p := f.fields(r.Properties)
	if err != nil || p["adminUserEnabled"] != true || p["anonymousPullEnabled"] != true || get(f.fields(r.SKU), "name") != "Premium" || r.Tags["team"] != "a" {
		t.Fatalf("PATCH adminUserEnabled: %+v %s %v", r, r.Properties, err)
	}
	if g, _ := f.cp.GetResource(f.ctx, reader, f.id(registry)); string(g.Properties) != string(r.Properties) {
		t.Fatalf("the PATCH was not kept: %s", g.Properties)
	}
	_, err = f.cp.PatchResource(f.ctx, reader, f.id(registry), input("", `{"adminUserEnabled":false}`, ""))
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, err = f.cp.PatchResource(f.ctx, owner, f.id(group+"/providers/Microsoft.ContainerRegistry/registries/absent"), input("", "{}", ""))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceNotFound")
	_, err = f.cp.PatchResource(f.ctx, owner, f.id(registry), input(`{"name":"Gold"}`, "", ""))
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidSkuName")
	if g, _ := f.cp.GetResource(f.ctx, reader, f.id(registry)); get(f.fields(g.SKU), "name") != "Premium" {
		t.Fatalf("a refused PATCH changed the SKU: %s", g.SKU)
	}
}

// TestRegistryRefusals: bad names, SKUs, types, groups and callers change
// nothing.
func TestRegistryRefusals(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.group("Other")
	f.mustPut(owner, registry, "", "", "", true)
	at := func(name string) string { return group + "/providers/Microsoft.ContainerRegistry/registries/" + name }

	_, _, err := f.put(owner, "/subscriptions/"+sub+"/resourceGroups/Other/providers/Microsoft.ContainerRegistry/registries/MYREGISTRY", "", "", "")
	f.wantErr(err, controlplane.ErrConflict, "AlreadyInUse")
	for _, name := range []string{"ab", "has-dash", "under_score", strings.Repeat("a", 51)} {
		_, _, err = f.put(owner, at(name), "", "", "")
		f.wantErr(err, controlplane.ErrBadRequest, "InvalidResourceName")
	}
	_, _, err = f.put(owner, at("okname1"), `{"name":"Gold"}`, "", "")
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidSkuName")
	_, _, err = f.put(owner, at("okname1"), "", `{"policies":{"azureADAuthenticationAsArmPolicy":{"status":"sometimes"}}}`, "")
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidRequestContent")
	_, _, err = f.put(owner, at("okname1"), "", `{"adminUserEnabled":"yes"}`, "")
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidRequestContent")
	_, _, err = f.put(owner, group+"/providers/Microsoft.Nope/things/x", "", "", "")
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidResourceType")
	_, _, err = f.put(owner, "/subscriptions/"+sub+"/resourceGroups/none/providers/Microsoft.ContainerRegistry/registries/okname1", "", "", "")
	f.wantErr(err, controlplane.ErrNotFound, "ResourceGroupNotFound")
	_, _, err = f.put(reader, at("okname1"), "", "", "")
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, _, err = f.put(stranger, at("okname1"), "", "", "")
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
	_, err = f.cp.GetResource(f.ctx, reader, f.id(at("absent")))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceNotFound")
	_, err = f.cp.GetResource(f.ctx, nobody, f.id(registry))
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, err = f.cp.GetResource(f.ctx, reader, f.id("/subscriptions/"+sub+"/resourceGroups/none/providers/Microsoft.ContainerRegistry/registries/absent"))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceGroupNotFound")
	if _, err := f.meta.GetRegistry(f.ctx, "okname1"); err == nil {
		t.Fatal("a refused create left a registry behind")
	}
	if rs, _ := f.meta.ListResources(f.ctx, store.ResourceQuery{SubscriptionID: sub}); len(rs) != 1 {
		t.Fatalf("refused creates left resources: %v", names(rs))
	}
}

// TestDeleteRegistry: deleting the resource deletes the registry, tells
// the data plane, and removes the assignments at and below it; the name
// is free again. Deleting what is not there finds nothing.
func TestDeleteRegistry(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.group("Other")
	f.mustPut(owner, registry, "", "", "", true)
	f.assign(registry, authz.AcrPull, "nobody")
	f.assign(registry+"/repositories/app", authz.AcrPush, "nobody")
	f.assign(group, authz.Reader, "nobody")

	_, err := f.cp.DeleteResource(f.ctx, reader, f.id(registry))
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	if found, err := f.cp.DeleteResource(f.ctx, contributor, f.id(strings.ToLower(registry))); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if found, err := f.cp.DeleteResource(f.ctx, contributor, f.id(registry)); err != nil || found {
		t.Fatalf("delete of a deleted registry: %v %v", found, err)
	}
	if _, err := f.meta.GetRegistry(f.ctx, "myregistry"); err == nil {
		t.Fatal("the registry outlived its resource")
	}
	if fmt.Sprint(f.deleted) != "[myregistry]" {
		t.Fatalf("the data plane was told of %v", f.deleted)
	}
	if as, _ := f.meta.RoleAssignmentsOfPrincipal(f.ctx, "nobody"); len(as) != 1 || as[0].Scope != group {
		t.Fatalf("assignments after the delete: %+v, want the group's only", as)
	}
	f.mustPut(owner, "/subscriptions/"+sub+"/resourceGroups/Other/providers/Microsoft.ContainerRegistry/registries/myregistry", "", "", "", true)
}

// TestDeleteKeepsAnotherResourcesRegistry: a registry resource whose name
// another resource has claimed since deletes only its own record.
func TestDeleteKeepsAnotherResourcesRegistry(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.mustPut(owner, registry, "", "", "", true)
	reg, err := f.meta.GetRegistry(f.ctx, "myregistry")
	f.must(err)
	// The data plane's registry now belongs to another resource id, as
	// after a delete and a create elsewhere that this record missed.
	f.must(f.meta.DeleteRegistry(f.ctx, reg.Name))
	reg.ResourceID = "/subscriptions/" + sub + "/resourceGroups/Other/providers/Microsoft.ContainerRegistry/registries/myregistry"
	f.must(f.meta.CreateRegistry(f.ctx, reg))
	if found, err := f.cp.DeleteResource(f.ctx, owner, f.id(registry)); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if got, err := f.meta.GetRegistry(f.ctx, "myregistry"); err != nil || got.ResourceID != reg.ResourceID {
		t.Fatalf("another resource's registry was deleted: %+v %v", got, err)
	}
	if len(f.deleted) != 0 {
		t.Fatalf("the data plane was told of %v", f.deleted)
	}
}

// TestConcurrentRegistryCreates: of concurrent creates of one registry
// name in different groups, exactly one wins; the others are told the
// name is in use and leave nothing behind.
func TestConcurrentRegistryCreates(t *testing.T) {
	f := newFixture(t)
	const n = 6
	for i := range n {
		f.group(fmt.Sprintf("g%d", i))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = f.cp.PutResource(f.ctx, owner,
				f.id(fmt.Sprintf("/subscriptions/%s/resourceGroups/g%d/providers/Microsoft.ContainerRegistry/registries/contested", sub, i)), input("", "", ""))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			f.wantErr(err, controlplane.ErrConflict, "AlreadyInUse")
		}
	}
	rs, err := f.meta.ListResources(f.ctx, store.ResourceQuery{SubscriptionID: sub})
	if won != 1 || err != nil || len(rs) != 1 {
		t.Fatalf("%d creates won and %d resources exist, want 1 and 1: %v", won, len(rs), errs)
	}
	if reg, err := f.meta.GetRegistry(f.ctx, "contested"); err != nil || reg.ResourceID != rs[0].ID {
		t.Fatalf("the registry %+v (%v) is not the winner's %s", reg, err, rs[0].ID)
	}
}

// TestIdentities: an identity resource is a managed identity's service
// principal, kept across PUTs and PATCHes and deleted with the resource.
func TestIdentities(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	r := f.mustPut(owner, identity, "", "", "", true)
	p := f.fields(r.Properties)
	principal, _ := p["principalId"].(string)
	if p["tenantId"] != tenant || principal == "" || p["clientId"] == "" || r.Location != "here" {
		t.Fatalf("create: %s", r.Properties)
	}
	sp, err := f.meta.GetServicePrincipal(f.ctx, principal)
	if err != nil || sp.Type != store.PrincipalManagedIdentity || sp.AppID != p["clientId"] || sp.TenantID != tenant || sp.DisplayName != "builder" {
		t.Fatalf("the identity's service principal: %+v %v", sp, err)
	}
	r, created, err := f.cp.PutResource(f.ctx, owner, f.id(identity), controlplane.ResourceInput{Tags: map[string]string{"a": "b"}})
	if err != nil || created || get(f.fields(r.Properties), "principalId") != principal || r.Tags["a"] != "b" {
		t.Fatalf("PUT of an identity again: %+v %v", r, err)
	}
	if r, err := f.cp.PatchResource(f.ctx, owner, f.id(identity), input("", `{"principalId":"forged"}`, "")); err != nil || get(f.fields(r.Properties), "principalId") != principal {
		t.Fatalf("PATCH of an identity changed its principal: %s %v", r.Properties, err)
	}
	for _, name := range []string{"ab", "-lead", "has space", strings.Repeat("a", 129)} {
		_, _, err := f.put(owner, group+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"+name, "", "", "")
		f.wantErr(err, controlplane.ErrBadRequest, "InvalidResourceName")
	}
	if found, err := f.cp.DeleteResource(f.ctx, owner, f.id(identity)); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if f.principalExists(principal) {
		t.Fatal("the identity's principal outlived it")
	}
}

// TestListResources: a listing holds what the caller may read, narrowed by
// group, type and name.
func TestListResources(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.group("Other")
	f.mustPut(owner, registry, "", "", "", true)
	f.mustPut(owner, identity, "", "", "", true)
	f.mustPut(owner, "/subscriptions/"+sub+"/resourceGroups/Other/providers/Microsoft.ContainerRegistry/registries/second", "", "", "", true)
	list := func(c controlplane.Caller, rf controlplane.ResourceFilter) string {
		t.Helper()
		rs, err := f.cp.ListResources(f.ctx, c, sub, rf)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(names(rs))
	}
	if got := list(reader, controlplane.ResourceFilter{Type: resourcetype.Registry}); got != "[myRegistry second]" {
		t.Fatalf("registries: %s", got)
	}
	if got := list(reader, controlplane.ResourceFilter{ResourceGroup: "team"}); got != "[builder myRegistry]" {
		t.Fatalf("resources of the group: %s", got)
	}
	if got := list(reader, controlplane.ResourceFilter{Type: "microsoft.managedidentity/userassignedidentities"}); got != "[builder]" {
		t.Fatalf("identities, the type in lower case: %s", got)
	}
	if got := list(reader, controlplane.ResourceFilter{ResourceGroup: "Team", Type: resourcetype.Registry}); got != "[myRegistry]" {
		t.Fatalf("registries of the group: %s", got)
	}
	if got := list(reader, controlplane.ResourceFilter{Name: "MYREGISTRY"}); got != "[myRegistry]" {
		t.Fatalf("by name: %s", got)
	}
	if got := list(nobody, controlplane.ResourceFilter{}); got != "[]" {
		t.Fatalf("resources listed to a principal with no role: %s", got)
	}
	f.assign(registry, authz.AcrPull, "nobody")
	if got := list(nobody, controlplane.ResourceFilter{}); got != "[]" {
		t.Fatalf("AcrPull (no read of the resource) lists: %s", got)
	}
	f.assign(group, authz.Reader, "nobody")
	if got := list(nobody, controlplane.ResourceFilter{}); got != "[builder myRegistry]" {
		t.Fatalf("a Reader of the group lists: %s", got)
	}
	_, err := f.cp.ListResources(f.ctx, reader, sub, controlplane.ResourceFilter{ResourceGroup: "none"})
	f.wantErr(err, controlplane.ErrNotFound, "ResourceGroupNotFound")
	_, err = f.cp.ListResources(f.ctx, stranger, sub, controlplane.ResourceFilter{})
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
}

// TestConcurrentCreatesOfOneRegistry: concurrent PUTs of the same resource
// id all succeed, one as the create and the others as updates of it.
func TestConcurrentCreatesOfOneRegistry(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	const n = 6
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, created[i], errs[i] = f.cp.PutResource(f.ctx, owner, f.id(registry), input("", "", ""))
		}()
	}
	wg.Wait()
	creates := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("PUT %d: %v", i, errs[i])
		}
		if created[i] {
			creates++
		}
	}
	if creates != 1 {
		t.Fatalf("%d PUTs created, want 1", creates)
	}
}
