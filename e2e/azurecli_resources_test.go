package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAzureCLIResources: the CLI's generic resource commands list a
// group's resources by the $filter it builds, narrow them by type, name
// and tag, and show a resource, a deployment among them, by its id after
// looking up its provider's API versions; and the provider commands.
func TestAzureCLIResources(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	az := newAzureCLI(t, s, proxy)
	az.login(s)
	az.run("group", "create", "-n", "apps", "-l", "westeurope", "-o", "none")
	az.run("acr", "create", "-g", "apps", "-n", "appsreg", "--sku", "Basic", "--tags", "team=web", "-o", "none")
	az.run("identity", "create", "-g", "apps", "-n", "puller", "-o", "none")

	if got := az.run("resource", "list", "-g", "apps", "--query", "sort([].name) | join(',', @)", "-o", "tsv"); got != "appsreg,puller" {
		t.Fatalf("resource list -g: %q", got)
	}
	registryID := az.run("resource", "list", "-g", "apps", "--resource-type", "Microsoft.ContainerRegistry/registries", "--query", "[].id", "-o", "tsv")
	if !strings.HasSuffix(registryID, "/providers/Microsoft.ContainerRegistry/registries/appsreg") {
		t.Fatalf("resource list --resource-type: %q", registryID)
	}
	if got := az.run("resource", "list", "-n", "puller", "--query", "[].type", "-o", "tsv"); got != "Microsoft.ManagedIdentity/userAssignedIdentities" {
		t.Fatalf("resource list -n: %q", got)
	}
	if got := az.run("resource", "list", "--tag", "team=web", "--query", "[].name", "-o", "tsv"); got != "appsreg" {
		t.Fatalf("resource list --tag: %q", got)
	}
	if got := az.run("resource", "show", "--ids", registryID, "--query", "properties.loginServer", "-o", "tsv"); got != "appsreg.azurecr.io" {
		t.Fatalf("resource show --ids: %q", got)
	}
	tmpl := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(tmpl, []byte(`{"resources": [], "outputs": {"greeting": {"type": "string", "value": "hello"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	deployment := az.run("deployment", "group", "create", "-g", "apps", "-n", "empty", "--template-file", tmpl, "--query", "id", "-o", "tsv")
	if got := az.run("resource", "show", "--ids", deployment, "--query", "properties.outputs.greeting.value", "-o", "tsv"); got != "hello" {
		t.Fatalf("resource show --ids of a deployment: %q", got)
	}
	if got := az.run("provider", "show", "-n", "Microsoft.ContainerRegistry", "--query", "[registrationState, resourceTypes[?resourceType=='registries'] | length(@)]", "-o", "tsv"); got != "Registered\n1" {
		t.Fatalf("provider show: %q", got)
	}
	if got := az.run("provider", "list", "--query", "[?namespace=='Microsoft.Resources'].registrationState", "-o", "tsv"); got != "Registered" {
		t.Fatalf("provider list: %q", got)
	}
	az.run("provider", "register", "-n", "Microsoft.ManagedIdentity", "--wait", "-o", "none")
	if got := az.runFailing("provider", "show", "-n", "Microsoft.Storage"); !strings.Contains(got, "InvalidResourceNamespace") {
		t.Fatalf("provider show of an unknown namespace: %q", got)
	}
	if got := az.runFailing("resource", "list", "-g", "nowhere"); !strings.Contains(got, "ResourceGroupNotFound") {
		t.Fatalf("resource list -g of no group: %q", got)
	}
}
