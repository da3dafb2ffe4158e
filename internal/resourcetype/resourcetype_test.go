package resourcetype

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAPIVersions(t *testing.T) {
	for _, typ := range All() {
		vs := APIVersions(typ)
		if len(vs) == 0 {
			t.Errorf("%s: no API versions", typ)
		}
		stable := StableAPIVersion(typ)
		if stable == "" || strings.HasSuffix(stable, "-preview") {
			t.Errorf("%s: stable version %q", typ, stable)
		}
	}
	if got := StableAPIVersion("microsoft.containerregistry/REGISTRIES"); got != "2023-07-01" {
		t.Errorf("registry's stable version, asked in another case = %q, want 2023-07-01 (the newest that is not a preview)", got)
	}
	if APIVersions("Microsoft.Web/sites") != nil {
		t.Error("a type berth does not serve has API versions")
	}
	vs := APIVersions(Registry)
	vs[0] = "changed"
	if APIVersions(Registry)[0] == "changed" {
		t.Error("APIVersions hands out its own slice")
	}
}

func TestCanonical(t *testing.T) {
	if got, ok := Canonical("microsoft.compute/VIRTUALMACHINES"); !ok || got != VirtualMachine {
		t.Errorf("Canonical = %q, %v", got, ok)
	}
	if _, ok := Canonical("Microsoft.Compute/disks"); ok {
		t.Error("Canonical knows a type berth does not serve")
	}
}

func TestMachine(t *testing.T) {
	props := json.RawMessage(`{"vmId":"v","machineKey":{"keyId":"k","publicKey":"cHVi"}}`)
	ident := json.RawMessage(`{"type":"SystemAssigned, UserAssigned","principalId":"sys","tenantId":"t",
		"userAssignedIdentities":{"/sub/id1":{"principalId":"p1","clientId":"c1"}}}`)
	m, err := Machine(props, ident)
	if err != nil {
		t.Fatal(err)
	}
	if m.Key == nil || m.Key.KeyID != "k" || m.System != "sys" || m.TenantID != "t" || m.User["/sub/id1"].ClientID != "c1" {
		t.Errorf("Machine = %+v", m)
	}
	m, err = Machine(props, nil)
	if err != nil || m.System != "" || len(m.User) != 0 || m.Key == nil {
		t.Errorf("a machine with no identity block: %+v, %v", m, err)
	}
	if _, err := Machine(json.RawMessage(`{"vmId":`), nil); err == nil {
		t.Error("malformed properties read without an error")
	}
}
