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
// and outputs), predicts it with what-if, shows the deployment and its
// operations, and reports a template berth refuses, which makes nothing.
func TestAzureCLIDeployment(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	az := newAzureCLI(t, s, proxy)
	az.login(s)
	az.run("group", "create", "-n", "apps", "-l", "westeurope", "-o", "none")
	tmpl, err := filepath.Abs("testdata/deployments/registry-identity-acrpull.json")
	if err != nil {
		t.Fatal(err)
	}
	whatIf := func() string {
		return az.run("deployment", "group", "what-if", "-g", "apps", "-n", "acr", "--template-file", tmpl,
			"--parameters", "identityName=puller", "--no-pretty-print", "--query", "join(',', changes[].changeType)", "-o", "tsv")
	}
	if got := whatIf(); got != "Create,Create,Create" {
		t.Fatalf("what-if before: %q", got)
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
	if got := whatIf(); got != "Deploy,Deploy,Deploy" {
		t.Fatalf("what-if after: %q", got)
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

// TestAzureCLIVMCreate: az vm create builds a template and deploys it.
// With its default profile Debian's azure-cli 2.45 fails inside the CLI
// after reading the resource group: its own request log shows that no
// deployment reached berth. With the 2020-09-01-hybrid profile the
// command runs: berth deploys its template (a network, kept as records,
// and the machine with a system-assigned identity), and keeps no secret
// of the machine's OS profile.
func TestAzureCLIVMCreate(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	az := newAzureCLI(t, s, proxy)
	az.login(s)
	az.run("group", "create", "-n", "machines", "-l", "westeurope", "-o", "none")
	const password = "A-long-Passw0rd!"
	create := []string{"vm", "create", "-g", "machines", "-n", "vm1", "--image", "UbuntuLTS", "--admin-username", "azureuser",
		"--authentication-type", "password", "--admin-password", password, "--assign-identity"}

	out := az.runFailing(append(create, "--debug")...)
	if !strings.Contains(out, "does not have operation group") {
		t.Fatalf("default profile: not the packaged CLI's known failure:\n%s", out)
	}
	var asked []string
	for _, line := range strings.Split(out, "\n") {
		if _, url, ok := strings.Cut(line, "Request URL: "); ok {
			asked = append(asked, url)
		}
	}
	if len(asked) == 0 || strings.Contains(strings.Join(asked, "\n"), "/deployments/") {
		t.Fatalf("default profile: the CLI sent %q", asked)
	}
	if got := az.run("deployment", "group", "list", "-g", "machines", "--query", "length(@)", "-o", "tsv"); got != "0" {
		t.Fatalf("deployments after the failure: %s", got)
	}

	az.run("cloud", "update", "--profile", "2020-09-01-hybrid", "-o", "none")
	az.login(s)
	var vm struct {
		ID       string
		Identity struct{ SystemAssignedIdentity string }
	}
	if err := json.Unmarshal([]byte(az.run(append(create, "-o", "json")...)), &vm); err != nil || vm.Identity.SystemAssignedIdentity == "" {
		t.Fatalf("az vm create: %+v %v", vm, err)
	}
	shown := az.run("rest", "--url", "https://management.azure.com"+vm.ID+"?api-version=2022-11-01")
	if strings.Contains(shown, password) || !strings.Contains(shown, `"adminUsername": "azureuser"`) || !strings.Contains(shown, "vm1VMNic") {
		t.Fatalf("the machine as berth keeps it: %s", shown)
	}
	if got := az.run("rest", "--url", "https://management.azure.com"+vm.ID+"?api-version=2022-11-01", "--query", "identity.principalId", "-o", "tsv"); got != vm.Identity.SystemAssignedIdentity {
		t.Fatalf("identity %q, az vm create said %q", got, vm.Identity.SystemAssignedIdentity)
	}
	if got := az.run("deployment", "group", "list", "-g", "machines", "--query", "[].properties.provisioningState", "-o", "tsv"); got != "Succeeded" {
		t.Fatalf("az vm create's deployment: %q", got)
	}
}
