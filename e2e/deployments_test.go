package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runFailing runs a command that must fail and returns what it wrote.
func (a azureCLI) runFailing(args ...string) string {
	a.t.Helper()
	cmd := exec.CommandContext(a.t.Context(), a.bin, args...)
	cmd.Env = a.env
	out, err := cmd.CombinedOutput()
	if err == nil {
		a.t.Fatalf("az %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

// TestAzureCLIDeployment: the cloud's CLI deploys a template from a file
// (a registry, a user-assigned identity and its AcrPull on the registry,
// and outputs), shows the deployment and its operations, and reports a
// template berth refuses, which makes nothing.
func TestAzureCLIDeployment(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	az := newAzureCLI(t, s, proxy)
	az.login(s)
	az.run("group", "create", "-n", "apps", "-l", "westeurope", "-o", "none")
	tmpl, err := filepath.Abs("testdata/deployments/registry-identity-acrpull.json")
	if err != nil {
		t.Fatal(err)
	}
	var outputs struct {
		LoginServer, ClientID struct{ Value string }
	}
	out := az.run("deployment", "group", "create", "-g", "apps", "-n", "acr", "--template-file", tmpl,
		"--parameters", "identityName=puller", "--query", "properties.outputs", "-o", "json")
	if err := json.Unmarshal([]byte(out), &outputs); err != nil {
		t.Fatalf("outputs %s: %v", out, err)
	}
	registry := strings.TrimSuffix(outputs.LoginServer.Value, ".azurecr.io")
	if !strings.HasPrefix(registry, "reg") || len(registry) != len("reg")+13 {
		t.Fatalf("login server %q: want reg + uniqueString(resourceGroup().id)", outputs.LoginServer.Value)
	}
	if got := az.run("identity", "show", "-g", "apps", "-n", "puller", "--query", "clientId", "-o", "tsv"); got != outputs.ClientID.Value {
		t.Fatalf("identity's client id %q, output %q", got, outputs.ClientID.Value)
	}
	principal := az.run("identity", "show", "-g", "apps", "-n", "puller", "--query", "principalId", "-o", "tsv")
	registryID := az.run("acr", "show", "-n", registry, "--query", "id", "-o", "tsv")
	got := az.run("rest", "--url", "https://management.azure.com"+registryID+"/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()",
		"--query", "value[?properties.principalId=='"+principal+"'].properties.roleDefinitionId | [0]", "-o", "tsv")
	if !strings.HasSuffix(got, "/7f951dda-4ed3-4680-a7ca-43fe172d538d") {
		t.Fatalf("the identity's role at the registry: %q, want AcrPull", got)
	}
	if got := az.run("deployment", "group", "show", "-g", "apps", "-n", "acr", "--query", "properties.provisioningState", "-o", "tsv"); got != "Succeeded" {
		t.Fatalf("deployment show: %q", got)
	}
	if got := az.run("deployment", "operation", "group", "list", "-g", "apps", "-n", "acr", "--query", "length([?properties.provisioningState=='Succeeded'])", "-o", "tsv"); got != "3" {
		t.Fatalf("operations: %q", got)
	}
	// Deploying again is a no-op that succeeds.
	az.run("deployment", "group", "create", "-g", "apps", "-n", "acr", "--template-file", tmpl, "--parameters", "identityName=puller", "-o", "none")

	bad := filepath.Join(t.TempDir(), "storage.json")
	if err := os.WriteFile(bad, []byte(`{"resources": [
		{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "never"},
		{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st1", "location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := az.runFailing("deployment", "group", "create", "-g", "apps", "--template-file", bad)
	if !strings.Contains(msg, "InvalidTemplateDeployment") || !strings.Contains(msg, "NoRegisteredProviderFound") {
		t.Fatalf("refused template: %s", msg)
	}
	if got := az.run("identity", "list", "-g", "apps", "--query", "[].name", "-o", "tsv"); got != "puller" {
		t.Fatalf("identities after a refused template: %q", got)
	}
	if got := az.run("deployment", "group", "list", "-g", "apps", "--query", "[].name", "-o", "tsv"); got != "acr" {
		t.Fatalf("deployments: %q", got)
	}
}
