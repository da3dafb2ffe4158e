package controlplane_test

import (
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/store"
)

const vm = group + "/providers/Microsoft.Compute/virtualMachines/myDockerVM"

// TestVirtualMachineIdentities: a machine's system-assigned identity is a
// service principal made with it and deleted without it; user-assigned
// identities are attached by resource id, by callers who may assign them.
func TestVirtualMachineIdentities(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.mustPut(owner, identity, "", "", "", true)

	r := f.mustPut(contributor, vm, "", `{"hardwareProfile":{"vmSize":"Standard_B1s"},"storageProfile":{"imageReference":{"publisher":"Canonical"}}}`, "", true)
	p := f.fields(r.Properties)
	if r.Identity != nil || p["vmId"] == "" || get(p, "hardwareProfile", "vmSize") != "Standard_B1s" ||
		get(p, "storageProfile", "imageReference", "publisher") != "Canonical" || p["provisioningState"] != "Succeeded" {
		t.Fatalf("create: %s %s", r.Properties, r.Identity)
	}
	vmID := p["vmId"]

	// The cloud CLI's identity assign: the machine again, with an identity
	// block naming the user-assigned identity in another case.
	r = f.mustPut(owner, vm, "", "", `{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+strings.ToLower(identity)+`":{}}}`, false)
	ident := f.fields(r.Identity)
	system, _ := ident["principalId"].(string)
	info, _ := get(ident, "userAssignedIdentities", identity).(map[string]any)
	if ident["type"] != "SystemAssigned, UserAssigned" || system == "" || ident["tenantId"] != tenant || info["principalId"] == "" || info["clientId"] == "" ||
		get(f.fields(r.Properties), "hardwareProfile", "vmSize") != "Standard_B1s" || get(f.fields(r.Properties), "vmId") != vmID {
		t.Fatalf("assign: %s %s", r.Identity, r.Properties)
	}
	sp, err := f.meta.GetServicePrincipal(f.ctx, system)
	if err != nil || sp.Type != store.PrincipalManagedIdentity || sp.TenantID != tenant {
		t.Fatalf("the system identity's principal: %+v %v", sp, err)
	}
	// A PUT without an identity block keeps the identity.
	if r := f.mustPut(owner, vm, "", "", "", false); get(f.fields(r.Identity), "principalId") != system {
		t.Fatalf("identity after a PUT without one: %s", r.Identity)
	}

	// Attaching an identity needs the right to assign it, which Virtual
	// Machine Contributor does not give.
	f.assign("/subscriptions/"+sub, authz.VirtualMachineContributor, "nobody")
	_, _, err = f.put(nobody, vm, "", "", `{"type":"UserAssigned","userAssignedIdentities":{"`+identity+`":{}}}`)
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, _, err = f.put(owner, vm, "", "", `{"type":"UserAssigned","userAssignedIdentities":{"`+group+`/providers/Microsoft.ManagedIdentity/userAssignedIdentities/absent":{}}}`)
	f.wantErr(err, controlplane.ErrBadRequest, "FailedIdentityOperation")
	_, _, err = f.put(owner, vm, "", "", `{"type":"UserAssigned","userAssignedIdentities":{"`+registry+`":{}}}`)
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidIdentityValues")
	_, _, err = f.put(owner, vm, "", "", `{"type":"Sometimes"}`)
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidIdentityType")
	_, _, err = f.put(owner, vm, "", "", `{"type":"UserAssigned"}`)
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidIdentityValues")
	_, _, err = f.put(owner, vm, "", "", `{"type":"SystemAssigned","userAssignedIdentities":{"`+identity+`":{}}}`)
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidIdentityValues")
	if g, _ := f.cp.GetResource(f.ctx, reader, f.id(vm)); get(f.fields(g.Identity), "principalId") != system || get(f.fields(g.Identity), "type") != "SystemAssigned, UserAssigned" {
		t.Fatalf("refused changes changed the identity: %s", g.Identity)
	}

	// Removing the identities deletes the system one's principal.
	if r := f.mustPut(owner, vm, "", "", `{"type":"None"}`, false); r.Identity != nil {
		t.Fatalf("remove: %s", r.Identity)
	}
	if f.principalExists(system) {
		t.Fatal("the system identity's principal outlived it")
	}
	// A new system identity is a new principal; deleting the machine
	// deletes it.
	again, _ := get(f.fields(f.mustPut(owner, vm, "", "", `{"type":"SystemAssigned"}`, false).Identity), "principalId").(string)
	if again == "" || again == system {
		t.Fatalf("a new system identity: %q (was %s)", again, system)
	}
	if found, err := f.cp.DeleteResource(f.ctx, owner, f.id(vm)); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if f.principalExists(again) {
		t.Fatal("the system identity's principal outlived its machine")
	}
	if _, err := f.cp.GetResource(f.ctx, owner, f.id(identity)); err != nil {
		t.Fatalf("the user-assigned identity went with the machine: %v", err)
	}
}

func TestVirtualMachineNames(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	for _, name := range []string{"ends.", "-lead", "has space", strings.Repeat("a", 65)} {
		_, _, err := f.put(owner, group+"/providers/Microsoft.Compute/virtualMachines/"+name, "", "", "")
		f.wantErr(err, controlplane.ErrBadRequest, "InvalidParameter")
	}
	f.mustPut(owner, group+"/providers/Microsoft.Compute/virtualMachines/vm_1.a-b", "", "", "", true)
}

// TestMachineCredential: handed out once per request, to who may; the
// machine keeps its public key only, and a new credential replaces it.
func TestMachineCredential(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.mustPut(owner, identity, "", "", "", true)
	vmID := get(f.fields(f.mustPut(owner, vm, "", "", "", true).Properties), "vmId")

	c, err := f.cp.NewMachineCredential(f.ctx, contributor, f.id(strings.ToLower(vm)))
	if err != nil || !strings.HasPrefix(c.PrivateKey, "-----BEGIN PRIVATE KEY-----") || c.ResourceID != vm || c.TenantID != tenant ||
		c.VMID != vmID || c.SubscriptionID != sub || c.ResourceGroup != "Team" || c.Name != "myDockerVM" || c.Location != "here" || c.KeyID == "" {
		t.Fatalf("machine credential: %+v %v", c, err)
	}
	g, err := f.cp.GetResource(f.ctx, reader, f.id(vm))
	if err != nil || strings.Contains(string(g.Properties), "PRIVATE") || get(f.fields(g.Properties), "machineKey", "keyId") != c.KeyID ||
		get(f.fields(g.Properties), "machineKey", "publicKey") == "" {
		t.Fatalf("the machine keeps its public key only: %s %v", g.Properties, err)
	}
	next, err := f.cp.NewMachineCredential(f.ctx, owner, f.id(vm))
	if err != nil || next.KeyID == c.KeyID || next.PrivateKey == c.PrivateKey {
		t.Fatalf("a second credential: %+v %v", next, err)
	}
	if g, _ := f.cp.GetResource(f.ctx, reader, f.id(vm)); get(f.fields(g.Properties), "machineKey", "keyId") != next.KeyID {
		t.Fatalf("the machine keeps the old key: %s", g.Properties)
	}

	_, err = f.cp.NewMachineCredential(f.ctx, reader, f.id(vm))
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, err = f.cp.NewMachineCredential(f.ctx, stranger, f.id(vm))
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
	_, err = f.cp.NewMachineCredential(f.ctx, owner, f.id(identity))
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidResourceType")
	_, err = f.cp.NewMachineCredential(f.ctx, owner, f.id(group+"/providers/Microsoft.Compute/virtualMachines/absent"))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceNotFound")
	// Virtual Machine Contributor may.
	f.assign(vm, authz.VirtualMachineContributor, "nobody")
	if _, err := f.cp.NewMachineCredential(f.ctx, nobody, f.id(vm)); err != nil {
		t.Fatalf("a Virtual Machine Contributor's credential: %v", err)
	}
}
