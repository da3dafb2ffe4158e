package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// berthCLI runs the CLI with its own configuration directory.
func berthCLI(t *testing.T, config string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(berthtest.Binary(t), args...)
	cmd.Env = append(os.Environ(), "BERTH_CONFIG_DIR="+config)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cliRunner returns a runner of the CLI, each call with the configuration
// directory it names, that fails the test on error and returns the
// trimmed output.
func cliRunner(t *testing.T) func(config string, args ...string) string {
	return func(config string, args ...string) string {
		t.Helper()
		out, err := berthCLI(t, config, args...)
		if err != nil {
			t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}
}

func TestCLILoginAndTokens(t *testing.T) {
	s := berthtest.Start(t)
	config := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := berthCLI(t, config, args...)
		if err != nil {
			t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if out, err := berthCLI(t, config, "account", "show"); err == nil || !strings.Contains(out, "berth login") {
		t.Fatalf("account show before login: %v %s", err, out)
	}
	run("login", "--data-dir", s.DataDir, "-o", "none")
	if got := strings.TrimSpace(run("account", "show", "--query", "user.name", "-o", "tsv")); got != s.Boot.ClientID {
		t.Fatalf("logged in as %q, want the bootstrap administrator %s", got, s.Boot.ClientID)
	}
	fi, err := os.Stat(filepath.Join(config, "profile.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("profile mode %v (%v)", fi.Mode().Perm(), err)
	}
	first := strings.TrimSpace(run("account", "get-access-token", "--query", "accessToken", "-o", "tsv"))
	if strings.Count(first, ".") != 2 {
		t.Fatalf("not a JWT: %q", first)
	}
	if again := strings.TrimSpace(run("account", "get-access-token", "--query", "accessToken", "-o", "tsv")); again != first {
		t.Error("a valid cached token was not reused")
	}
	var tok map[string]any
	json.Unmarshal([]byte(run("account", "get-access-token", "--resource", "https://containerregistry.azure.net")), &tok)
	if tok["tokenType"] != "Bearer" || tok["tenant"] != s.Boot.TenantID || tok["accessToken"] == first {
		t.Errorf("registry token %v", tok)
	}

	// A service principal of another tenant, by its credentials; the
	// server and CA carry over from the current login.
	var b struct{ TenantID, SubscriptionID, ClientID, ClientSecret string }
	out, err := s.Berth("tenant", "create", "--domain", "cli.example")
	if err != nil || json.Unmarshal([]byte(out), &b) != nil {
		t.Fatalf("tenant create: %v %s", err, out)
	}
	if out, err := berthCLI(t, config, "login", "--service-principal", "-u", b.ClientID, "-p", "wrong", "--tenant", b.TenantID); err == nil || !strings.Contains(out, "AADSTS7000215") {
		t.Fatalf("login with a wrong secret: %v %s", err, out)
	}
	if got := strings.TrimSpace(run("account", "show", "--query", "tenantId", "-o", "tsv")); got != s.Boot.TenantID {
		t.Fatalf("a failed login replaced the current one: %s", got)
	}
	// Logged in by the tenant's domain, the account shows the tenant id
	// of the subscription the server lists, as the cloud CLI's does.
	run("login", "--service-principal", "-u", b.ClientID, "-p", b.ClientSecret, "--tenant", "cli.example", "-o", "none")
	if got := strings.TrimSpace(run("account", "show", "--query", "[id, tenantId]", "-o", "tsv")); got != b.SubscriptionID+"\n"+b.TenantID {
		t.Fatalf("account after service principal login: %q, want subscription %s in tenant %s", got, b.SubscriptionID, b.TenantID)
	}
	run("logout")
	if out, err := berthCLI(t, config, "account", "get-access-token"); err == nil || !strings.Contains(out, "berth login") {
		t.Fatalf("get-access-token after logout: %v %s", err, out)
	}
}
