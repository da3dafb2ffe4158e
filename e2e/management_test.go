package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestCLIManagement drives the control plane through the CLI as the
// bootstrap administrator: the subscription the login finds, resource
// groups, registries and identities, and create-for-rbac run twice.
func TestCLIManagement(t *testing.T) {
	s := berthtest.Start(t)
	config, cli := t.TempDir(), cliRunner(t)
	run := func(args ...string) string {
		t.Helper()
		return cli(config, args...)
	}
	fail := func(want string, args ...string) {
		t.Helper()
		out, err := berthCLI(t, config, args...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("berth %s: %v %s, want an error with %q", strings.Join(args, " "), err, out, want)
		}
	}

	var accounts []map[string]any
	if err := json.Unmarshal([]byte(run("login", "--data-dir", s.DataDir)), &accounts); err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 1 || accounts[0]["id"] != s.Boot.SubscriptionID || accounts[0]["isDefault"] != true ||
		accounts[0]["tenantId"] != s.Boot.TenantID || accounts[0]["state"] != "Enabled" {
		t.Fatalf("login: %v", accounts)
	}
	var show map[string]any
	json.Unmarshal([]byte(run("account", "show")), &show)
	if show["id"] != s.Boot.SubscriptionID || show["environmentName"] == nil || show["user"].(map[string]any)["name"] != s.Boot.ClientID {
		t.Errorf("account show: %v", show)
	}
	name := run("account", "list", "--refresh", "--query", "[0].name", "-o", "tsv")
	run("account", "set", "--subscription", name)
	fail("doesn't exist", "account", "set", "--subscription", "no-such-subscription")

	// Groups.
	run("group", "create", "-n", "apps", "-l", "northeurope", "-o", "none")
	if got := run("group", "show", "-g", "apps", "--query", "[name, location, properties.provisioningState]", "-o", "tsv"); got != "apps\nnortheurope\nSucceeded" {
		t.Errorf("group show: %q", got)
	}
	if got := run("group", "list", "--query", "[?name=='apps'].type", "-o", "tsv"); got != "Microsoft.Resources/resourceGroups" {
		t.Errorf("group list: %q", got)
	}

	// Registries: the group's location by default, found without -g.
	var reg map[string]any
	json.Unmarshal([]byte(run("acr", "create", "-n", "appsregistry", "-g", "apps", "--admin-enabled", "true")), &reg)
	if reg["location"] != "northeurope" || reg["adminUserEnabled"] != true || reg["resourceGroup"] != "apps" ||
		!strings.HasPrefix(reg["loginServer"].(string), "appsregistry.") || reg["provisioningState"] != "Succeeded" {
		t.Errorf("acr create: %v", reg)
	}
	if got := run("acr", "show", "-n", "appsregistry", "--query", "id", "-o", "tsv"); got != reg["id"] {
		t.Errorf("acr show without -g: %q, want %v", got, reg["id"])
	}
	if got := run("acr", "list", "-g", "apps", "--query", "[].name", "-o", "tsv"); got != "appsregistry" {
		t.Errorf("acr list -g: %q", got)
	}
	if got := run("acr", "list", "--query", "[].name", "-o", "tsv"); !strings.Contains(got, "appsregistry") || !strings.Contains(got, s.Boot.Registry) {
		t.Errorf("acr list: %q", got)
	}
	fail("Registry names may contain only alpha numeric", "acr", "create", "-n", "no-dashes", "-g", "apps")
	fail("could not be found", "acr", "show", "-n", "nosuchregistry")

	// Identities.
	var id map[string]any
	json.Unmarshal([]byte(run("identity", "create", "-n", "worker", "-g", "apps")), &id)
	if id["clientId"] == nil || id["principalId"] == nil || id["tenantId"] != s.Boot.TenantID || id["resourceGroup"] != "apps" {
		t.Errorf("identity create: %v", id)
	}
	if got := run("identity", "show", "-n", "worker", "-g", "apps", "--query", "clientId", "-o", "tsv"); got != id["clientId"] {
		t.Errorf("identity show: %q", got)
	}
	if got := run("identity", "list", "--query", "[].name", "-o", "tsv"); got != "worker" {
		t.Errorf("identity list: %q", got)
	}
	run("identity", "delete", "-n", "worker", "-g", "apps")
	if got := run("identity", "list", "-g", "apps", "-o", "json"); got != "[]" {
		t.Errorf("identity list after delete: %s", got)
	}

	// create-for-rbac twice with one name: the same application, a new
	// secret, and the old one refused.
	first := map[string]string{}
	json.Unmarshal([]byte(run("ad", "sp", "create-for-rbac", "--name", "rbac-twice", "--role", "AcrPush", "--scopes", reg["id"].(string))), &first)
	if first["displayName"] != "rbac-twice" || first["tenant"] != s.Boot.TenantID || first["password"] == "" {
		t.Fatalf("create-for-rbac: %v", first)
	}
	second := map[string]string{}
	json.Unmarshal([]byte(run("ad", "sp", "create-for-rbac", "--name", "rbac-twice")), &second)
	if second["appId"] != first["appId"] || second["password"] == first["password"] {
		t.Errorf("create-for-rbac again: app %s (first %s), same password %v", second["appId"], first["appId"], second["password"] == first["password"])
	}
	if got := run("ad", "app", "list", "--display-name", "rbac-twice", "--query", "length(@)", "-o", "tsv"); got != "1" {
		t.Errorf("%s applications named rbac-twice", got)
	}
	spConfig := t.TempDir()
	if out, err := berthCLI(t, spConfig, "login", "--service-principal", "-u", first["appId"], "-p", first["password"], "--tenant", s.Boot.TenantID, "--server", s.URL, "--ca-file", s.CAFile); err == nil || !strings.Contains(out, "AADSTS7000215") {
		t.Errorf("login with the replaced secret: %v %s", err, out)
	}
	if out, err := berthCLI(t, spConfig, "login", "--service-principal", "-u", second["appId"], "-p", second["password"], "--tenant", s.Boot.TenantID, "--server", s.URL, "--ca-file", s.CAFile, "-o", "none"); err != nil {
		t.Errorf("login with the new secret: %v %s", err, out)
	}
	if got := run("role", "assignment", "list", "--assignee", second["appId"], "--all", "--query", "[].roleDefinitionName", "-o", "tsv"); got != "AcrPush" {
		t.Errorf("assignments after create-for-rbac: %q", got)
	}
	fail("--scopes must be specified", "ad", "sp", "create-for-rbac", "--name", "x", "--role", "AcrPull")

	// Deleting a group deletes what is in it; deletion asks first.
	fail("cancelled", "group", "delete", "-n", "apps")
	run("group", "delete", "-n", "apps", "--yes")
	fail("could not be found", "acr", "show", "-n", "appsregistry")
	if got := run("group", "list", "--query", "[?name=='apps']", "-o", "json"); got != "[]" {
		t.Errorf("group list after delete: %s", got)
	}
}
