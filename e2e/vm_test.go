package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestCLIVirtualMachines: vm create's credential file, identity changes
// merged as the cloud CLI merges them, and login --identity through the
// real agent's App Service form, with every token from the agent.
func TestCLIVirtualMachines(t *testing.T) {
	s := startBerth(t)
	admin := adminCLI(t, s)
	run := admin.run
	run("group", "create", "-n", "vms", "-l", "here", "-o", "none")
	uid := run("identity", "create", "-g", "vms", "-n", "builder", "--query", "id", "-o", "tsv")
	credFile := filepath.Join(t.TempDir(), "machines", "vm1.json")

	out := run("vm", "create", "-g", "vms", "-n", "vm1", "--assign-identity", "[system]", uid, "--credential-file", credFile)
	var created struct {
		ID       string
		Identity struct {
			SystemAssignedIdentity string
			UserAssignedIdentities map[string]struct{ ClientID, PrincipalID string }
		}
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || strings.Contains(out, "PRIVATE") ||
		created.Identity.SystemAssignedIdentity == "" || len(created.Identity.UserAssignedIdentities) != 1 {
		t.Fatalf("vm create: %v %s", err, out)
	}
	fi, err := os.Stat(credFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", fi, err)
	}
	var cred struct{ ResourceID, TenantID, KeyID, PrivateKey, Server, CA string }
	b, _ := os.ReadFile(credFile)
	if json.Unmarshal(b, &cred) != nil || cred.ResourceID != created.ID || cred.TenantID != s.Boot.TenantID || cred.Server != s.URL ||
		!strings.HasPrefix(cred.PrivateKey, "-----BEGIN PRIVATE KEY-----") || !strings.Contains(cred.CA, "BEGIN CERTIFICATE") {
		t.Fatalf("credential file: %s", b)
	}

	// Removing one identity keeps the other; no ids means the system one.
	run("vm", "identity", "remove", "-g", "vms", "-n", "vm1", "-o", "none")
	if got := run("vm", "identity", "show", "-g", "vms", "-n", "vm1", "--query", "type", "-o", "tsv"); got != "UserAssigned" {
		t.Fatalf("after removing the system identity: %s", got)
	}
	if out, err := admin.try("vm", "identity", "remove", "-g", "vms", "-n", "vm1"); err == nil {
		t.Fatalf("removing an absent system identity: %s", out)
	}
	run("vm", "identity", "remove", "-g", "vms", "-n", "vm1", "--identities", strings.ToLower(uid), "-o", "none")
	if got := run("vm", "identity", "show", "-g", "vms", "-n", "vm1"); got != "null" {
		t.Fatalf("after removing every identity: %s", got)
	}
	system := run("vm", "identity", "assign", "-g", "vms", "-n", "vm1", "--query", "systemAssignedIdentity", "-o", "tsv")
	if system == "" || system == created.Identity.SystemAssignedIdentity {
		t.Fatalf("a new system identity: %q (was %s)", system, created.Identity.SystemAssignedIdentity)
	}

	// The agent refuses a --vm other than the credential's machine, and
	// without --vm serves the credential's (as the Helm chart's DaemonSet
	// runs it, the same arguments on every node).
	if _, _, err := startAgent(berthtest.Binary(t), created.ID+"-other", credFile); err == nil || !strings.Contains(err.Error(), "is not the machine of the credential file") {
		t.Fatalf("imds with another machine's --vm: %v", err)
	}
	// The App Service form: IDENTITY_ENDPOINT and IDENTITY_HEADER.
	addr, stop, err := startAgent(berthtest.Binary(t), "", credFile, "--identity-header", "the-header")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("berth imds stderr:\n%s", stop())
		} else {
			stop()
		}
	}()
	onVM := t.TempDir()
	machine := newCLI(t, onVM)
	machine.env = []string{"IDENTITY_ENDPOINT=" + addr + "/msi/token", "BERTH_SERVER=" + s.URL, "BERTH_CA_FILE=" + s.CAFile, "IDENTITY_HEADER=wrong"}
	if out, code := machine.status("login", "--identity"); code == 0 {
		t.Fatalf("login with the wrong identity header: %s", out)
	}
	machine.env = append(machine.env, "IDENTITY_HEADER=the-header")
	if out, code := machine.status("login", "--identity", "-o", "none"); code != 0 {
		t.Fatalf("login --identity: %s", out)
	}
	out, code := machine.status("account", "show", "--query", "user")
	var user map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &user) != nil || user["assignedIdentityInfo"] != "MSI" || user["name"] != "systemAssignedIdentity" {
		t.Fatalf("account show: %s", out)
	}
	// The directory's token comes from the agent too, for the system
	// identity's principal.
	out, code = machine.status("account", "get-access-token", "--resource", "https://graph.microsoft.com", "--query", "accessToken", "-o", "tsv")
	if code != 0 || tokenClaim(t, strings.TrimSpace(out), "oid") != system {
		t.Fatalf("directory token: %s", out)
	}
	profile, _ := os.ReadFile(filepath.Join(onVM, "profile.json"))
	if strings.Contains(string(profile), `"secret"`) || strings.Contains(string(profile), "the-header") {
		t.Fatalf("the managed identity login stored a secret: %s", profile)
	}

	run("vm", "delete", "-g", "vms", "-n", "vm1", "--yes")
	if out, err := admin.try("vm", "show", "-g", "vms", "-n", "vm1"); err == nil || !strings.Contains(out, "ResourceNotFound") {
		t.Fatalf("vm show after delete: %s", out)
	}
}

// tokenClaim reads a claim of a JWT without verifying it.
func tokenClaim(t *testing.T, token, name string) any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("JWT payload %q: %v", parts[1], err)
	}
	return claims[name]
}
