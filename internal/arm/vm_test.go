package arm

import (
	"strings"
	"testing"
)

func TestVirtualMachines(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	f.want(f.do("owner", "PUT", identity+api, `{}`), 201, "")
	vm := group + "/providers/Microsoft.Compute/virtualMachines/myDockerVM"

	a := f.do("contributor", "PUT", vm+api, `{"location":"here","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},"storageProfile":{"imageReference":{"publisher":"Canonical"}}}}`)
	if a.status != 201 || a.get("identity") != nil || a.get("properties.vmId") == "" || a.get("properties.hardwareProfile.vmSize") != "Standard_B1s" ||
		a.get("properties.storageProfile.imageReference.publisher") != "Canonical" {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	// az vm identity assign: the VM again, with an identity block.
	a = f.do("owner", "PUT", vm+api, `{"identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+strings.ToLower(identity)+`":{}}}}`)
	ua, _ := a.get("identity.userAssignedIdentities").(map[string]any)
	info, _ := ua[identity].(map[string]any)
	if a.status != 200 || a.get("identity.type") != "SystemAssigned, UserAssigned" || a.get("identity.principalId") == "" ||
		a.get("identity.tenantId") != tenant || info["principalId"] == "" || info["clientId"] == "" || a.get("properties.hardwareProfile.vmSize") != "Standard_B1s" {
		t.Fatalf("assign: %d %s", a.status, a.raw)
	}
	// A PUT without an identity block keeps the identity.
	if b := f.do("owner", "PUT", vm+api, `{"tags":{"a":"b"}}`); b.get("identity.principalId") != a.get("identity.principalId") {
		t.Fatalf("identity after a PUT without one: %s", b.raw)
	}
	// Attaching an identity needs the right to assign it.
	f.do("owner", "PUT", "/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleAssignments/0f7e6f8e-0000-4000-8000-00000000c0de"+api,
		`{"properties":{"roleDefinitionId":"/subscriptions/`+sub+`/providers/Microsoft.Authorization/roleDefinitions/9980e02c-c2be-4d73-94e8-173b1dc7cf3c","principalId":"nobody"}}`)
	f.want(f.do("nobody", "PUT", vm+api, `{"identity":{"type":"UserAssigned","userAssignedIdentities":{"`+identity+`":{}}}}`), 403, "AuthorizationFailed")
	f.want(f.do("owner", "PUT", vm+api, `{"identity":{"type":"UserAssigned","userAssignedIdentities":{"/subscriptions/`+sub+`/resourceGroups/Team/providers/Microsoft.ManagedIdentity/userAssignedIdentities/absent":{}}}}`), 400, "FailedIdentityOperation")
	f.want(f.do("owner", "PUT", vm+api, `{"identity":{"type":"Sometimes"}}`), 400, "InvalidIdentityType")
	f.want(f.do("owner", "PUT", vm+api, `{"identity":{"type":"UserAssigned"}}`), 400, "InvalidIdentityValues")

	// The machine credential: handed out once per request, to who may.
	c := f.do("contributor", "POST", vm+"/generateMachineCredential"+api, "")
	if c.status != 200 || !strings.HasPrefix(c.get("privateKey").(string), "-----BEGIN PRIVATE KEY-----") || c.get("resourceId") != vm ||
		c.get("tenantId") != tenant || c.get("vmId") != a.get("properties.vmId") || c.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("machine credential: %d %s", c.status, c.raw)
	}
	if g := f.do("reader", "GET", vm+api, ""); strings.Contains(g.raw, "PRIVATE") || g.get("properties.machineKey.keyId") != c.get("keyId") {
		t.Fatalf("the VM shows its public key only: %s", g.raw)
	}
	f.want(f.do("reader", "POST", vm+"/generateMachineCredential"+api, ""), 403, "AuthorizationFailed")
	f.want(f.do("owner", "POST", identity+"/generateMachineCredential"+api, ""), 400, "InvalidResourceType")
	f.want(f.do("owner", "POST", group+"/providers/Microsoft.Compute/virtualMachines/absent/generateMachineCredential"+api, ""), 404, "ResourceNotFound")

	// Removing the identities deletes the system one's principal.
	pid := a.get("identity.principalId").(string)
	if r := f.do("owner", "PUT", vm+api, `{"identity":{"type":"None"}}`); r.status != 200 || r.get("identity") != nil {
		t.Fatalf("remove: %s", r.raw)
	}
	if _, err := f.meta.GetServicePrincipal(t.Context(), pid); err == nil {
		t.Fatal("the system identity's principal outlived it")
	}
}
