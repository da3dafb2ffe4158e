package podidentity_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/podidentity"
	"github.com/berthhq/berth/internal/testutil/kubetest"
)

// The manifests of the original project's guides, as people have them.
const manifests = `apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentity
metadata:
  name: my-pod-identity
  namespace: my-app
spec:
  type: 0
  resourceID: /subscriptions/s/resourcegroups/myIdentityResourceGroup/providers/Microsoft.ManagedIdentity/userAssignedIdentities/application-identity
  clientID: 7f5e3b0c-2f6a-4d3e-9d7a-1c2b3a4d5e6f
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentity
metadata:
  name: app-sp
  namespace: my-app
spec:
  type: 1
  tenantID: 11111111-2222-3333-4444-555555555555
  clientID: 8a6f4c1d-3b7e-4e2f-8c9d-2d3c4b5e6f70
  clientPassword: {"name": "app-sp-secret", "namespace": "my-app"}
  auxiliaryTenantIDs: ["22222222-3333-4444-5555-666666666666"]
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentityBinding
metadata:
  name: my-pod-identity-binding
  namespace: my-app
spec:
  azureIdentity: my-pod-identity
  selector: my-pod-identity
---
apiVersion: aadpodidentity.k8s.io/v1
kind: AzurePodIdentityException
metadata:
  name: kube-proxy-exception
  namespace: my-app
spec:
  podLabels:
    component: kube-proxy
    tier: node
`

// TestCRDsOnARealAPIServer: the shipped definitions install on a real API
// server, the original project's manifests apply unchanged and read back
// field for field, and what the schemas forbid is refused.
func TestCRDsOnARealAPIServer(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{})
	kubectl := func(stdin string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command("kubectl", append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := kubectl(stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("", "apply", "-f", filepath.Join("..", "..", "docs", "pod-identity-crds.yaml"))
	must("", "wait", "--for", "condition=established", "--timeout", "60s",
		"crd/azureidentities."+podidentity.Group, "crd/azureidentitybindings."+podidentity.Group,
		"crd/azureassignedidentities."+podidentity.Group, "crd/azurepodidentityexceptions."+podidentity.Group)
	must("", "create", "namespace", "my-app")
	must(manifests, "apply", "-f", "-")

	var id podidentity.AzureIdentity
	if err := json.Unmarshal([]byte(must("", "get", "azureidentity", "app-sp", "-n", "my-app", "-o", "json")), &id); err != nil {
		t.Fatal(err)
	}
	if id.Spec.Type != podidentity.ServicePrincipal || id.Spec.ClientPassword.Name != "app-sp-secret" || id.Spec.TenantID != "11111111-2222-3333-4444-555555555555" ||
		len(id.Spec.AuxiliaryTenantIDs) != 1 {
		t.Errorf("AzureIdentity read back: %+v", id.Spec)
	}
	var exc podidentity.AzurePodIdentityException
	if err := json.Unmarshal([]byte(must("", "get", "azurepodidentityexception", "kube-proxy-exception", "-n", "my-app", "-o", "json")), &exc); err != nil {
		t.Fatal(err)
	}
	if exc.Spec.PodLabels["component"] != "kube-proxy" || exc.Spec.PodLabels["tier"] != "node" {
		t.Errorf("AzurePodIdentityException read back: %+v", exc.Spec)
	}
	if out := must("", "get", "azureidentitybinding", "-n", "my-app"); !strings.Contains(out, "SELECTOR") || !strings.Contains(out, "my-pod-identity") {
		t.Errorf("kubectl get azureidentitybinding:\n%s", out)
	}

	// An assignment embeds copies of its identity and binding; its status
	// is written through the status subresource only.
	assigned := `apiVersion: aadpodidentity.k8s.io/v1
kind: AzureAssignedIdentity
metadata:
  name: demo-my-app-my-pod-identity
  namespace: my-app
  labels: {nodename: node-1}
spec:
  pod: demo
  podNamespace: my-app
  nodename: node-1
  azureIdentityRef:
    apiVersion: aadpodidentity.k8s.io/v1
    kind: AzureIdentity
    metadata: {name: my-pod-identity, namespace: my-app}
    spec: {type: 0, clientID: 7f5e3b0c-2f6a-4d3e-9d7a-1c2b3a4d5e6f}
  azureBindingRef:
    apiVersion: aadpodidentity.k8s.io/v1
    kind: AzureIdentityBinding
    metadata: {name: my-pod-identity-binding, namespace: my-app}
    spec: {azureIdentity: my-pod-identity, selector: my-pod-identity}
status:
  status: Assigned
`
	must(assigned, "apply", "-f", "-")
	if out := must("", "get", "azureassignedidentity", "demo-my-app-my-pod-identity", "-n", "my-app", "-o", "jsonpath={.status.status}/{.spec.azureIdentityRef.spec.clientID}"); out != "/7f5e3b0c-2f6a-4d3e-9d7a-1c2b3a4d5e6f" {
		t.Errorf("status set through the resource, or the embedded copy lost: %q", out)
	}
	must("", "patch", "azureassignedidentity", "demo-my-app-my-pod-identity", "-n", "my-app", "--subresource", "status", "--type", "merge", "-p", `{"status":{"status":"Created"}}`)
	if out := must("", "get", "azureassignedidentity", "-n", "my-app", "-o", "jsonpath={.items[0].status.status}"); out != podidentity.AssignedIDCreated {
		t.Errorf("status after the status subresource's patch: %q", out)
	}

	first := manifests[:strings.Index(manifests, "---")]
	for _, tc := range []struct{ name, manifest, says string }{
		{"an identity type that does not exist", strings.Replace(first, "type: 0", "type: 3", 1), "Unsupported value: 3"},
		{"a field in the wrong case", strings.Replace(first, "clientID:", "clientId:", 1), `unknown field "spec.clientId"`},
	} {
		if out, err := kubectl(tc.manifest, "apply", "-f", "-"); err == nil || !strings.Contains(out, tc.says) {
			t.Errorf("%s: %v\n%s\nwant a refusal saying %q", tc.name, err, out, tc.says)
		}
	}
	var unchanged podidentity.AzureIdentity
	if err := json.Unmarshal([]byte(must("", "get", "azureidentity", "my-pod-identity", "-n", "my-app", "-o", "json")), &unchanged); err != nil {
		t.Fatal(err)
	}
	if unchanged.Spec.Type != podidentity.UserAssignedIdentity || unchanged.Spec.ClientID != "7f5e3b0c-2f6a-4d3e-9d7a-1c2b3a4d5e6f" {
		t.Errorf("a refused apply changed the identity: %+v", unchanged.Spec)
	}
}
