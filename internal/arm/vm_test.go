package arm

import (
	"strings"
	"testing"
)

// TestVirtualMachines: a machine's identity block as clients read it, and
// the machine credential's answer, which no cache may keep.
func TestVirtualMachines(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	f.want(f.do("owner", "PUT", identity+api, `{}`), 201, "")
	vm := group + "/providers/Microsoft.Compute/virtualMachines/myDockerVM"

	a := f.do("owner", "PUT", vm+api, `{"identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+strings.ToLower(identity)+`":{}}}}`)
	ua, _ := a.get("identity.userAssignedIdentities").(map[string]any)
	info, _ := ua[identity].(map[string]any)
	if a.status != 201 || a.get("identity.type") != "SystemAssigned, UserAssigned" || a.get("identity.principalId") == "" ||
		a.get("identity.tenantId") != tenant || len(ua) != 1 || info["principalId"] == "" || info["clientId"] == "" || a.get("properties.vmId") == "" {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	f.want(f.do("owner", "PUT", vm+api, `{"identity":{"type":"Sometimes"}}`), 400, "InvalidIdentityType")

	c := f.do("contributor", "POST", vm+"/generateMachineCredential"+api, "")
	key, _ := c.get("privateKey").(string)
	if c.status != 200 || !strings.HasPrefix(key, "-----BEGIN PRIVATE KEY-----") || c.get("resourceId") != vm || c.get("tenantId") != tenant ||
		c.get("vmId") != a.get("properties.vmId") || c.get("keyId") == "" || c.get("subscriptionId") != sub || c.get("resourceGroup") != "Team" ||
		c.get("name") != "myDockerVM" || c.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("machine credential: %d %s", c.status, c.raw)
	}
	if g := f.do("reader", "GET", vm+api, ""); strings.Contains(g.raw, "PRIVATE") || g.get("properties.machineKey.keyId") != c.get("keyId") {
		t.Fatalf("the VM shows its public key only: %s", g.raw)
	}
	f.want(f.do("reader", "POST", vm+"/generateMachineCredential"+api, ""), 403, "AuthorizationFailed")
	f.want(f.do("owner", "POST", vm+"/restart"+api, ""), 404, "NotFound")
}
