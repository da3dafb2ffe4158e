package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestDirectoryCLI: the bootstrap administrator registers an application,
// gives it a secret and a service principal with the ad commands; the new
// principal logs in with them but, holding no directory role, may not
// register applications itself.
func TestDirectoryCLI(t *testing.T) {
	s := berthtest.Start(t)
	admin, other := t.TempDir(), t.TempDir()
	run := cliRunner(t)
	run(admin, "login", "--data-dir", s.DataDir, "-o", "none")

	appID := run(admin, "ad", "app", "create", "--display-name", "e2e-app", "--web-redirect-uris", "https://a.example/cb", "https://b.example/cb",
		"--sign-in-audience", "AzureADMultipleOrgs", "--query", "appId", "-o", "tsv")
	if len(appID) != 36 || strings.ContainsAny(appID, " \t\n\"") {
		t.Fatalf("app id %q", appID)
	}
	var app struct {
		ID, AppID, SignInAudience string
		Web                       struct{ RedirectURIs []string }
	}
	if err := json.Unmarshal([]byte(run(admin, "ad", "app", "show", "--id", appID)), &app); err != nil || app.AppID != appID ||
		app.SignInAudience != "AzureADMultipleOrgs" || len(app.Web.RedirectURIs) != 2 {
		t.Fatalf("app show: %+v %v", app, err)
	}
	if got := run(admin, "ad", "app", "show", "--id", app.ID, "--query", "appId", "-o", "tsv"); got != appID {
		t.Fatalf("app show by object id: %q", got)
	}
	if got := run(admin, "ad", "app", "list", "--display-name", "e2e-app", "--query", "[].appId", "-o", "tsv"); got != appID {
		t.Fatalf("app list: %q", got)
	}

	var first, cred struct{ AppID, Password, Tenant string }
	json.Unmarshal([]byte(run(admin, "ad", "app", "credential", "reset", "--id", appID, "--display-name", "first")), &first)
	json.Unmarshal([]byte(run(admin, "ad", "app", "credential", "reset", "--id", appID, "--years", "2")), &cred)
	if cred.AppID != appID || cred.Tenant != s.Boot.TenantID || len(cred.Password) < 32 || cred.Password == first.Password {
		t.Fatalf("credential reset: %+v", cred)
	}
	if n := run(admin, "ad", "app", "show", "--id", appID, "--query", "length(passwordCredentials)", "-o", "tsv"); n != "1" {
		t.Fatalf("a reset without --append left %s secrets", n)
	}
	run(admin, "ad", "app", "credential", "reset", "--id", appID, "--append", "-o", "none")
	if n := run(admin, "ad", "app", "show", "--id", appID, "--query", "length(passwordCredentials)", "-o", "tsv"); n != "2" {
		t.Fatalf("a reset with --append left %s secrets", n)
	}

	spID := run(admin, "ad", "sp", "create", "--id", appID, "--query", "id", "-o", "tsv")
	for _, id := range []string{appID, "http://e2e-app", spID} {
		if got := run(admin, "ad", "sp", "show", "--id", id, "--query", "appId", "-o", "tsv"); got != appID {
			t.Errorf("sp show --id %s: %q", id, got)
		}
	}
	if out, err := berthCLI(t, admin, "ad", "sp", "show", "--id", "http://nobody"); err == nil || !strings.Contains(out, "doesn't exist") {
		t.Errorf("sp show of nobody: %v %s", err, out)
	}
	if got := run(admin, "ad", "sp", "list", "--query", "length(@)", "-o", "tsv"); got != "2" {
		t.Errorf("sp list: %s service principals, want the administrator and e2e-app", got)
	}

	// The old secret is gone; the new one logs in.
	if out, err := berthCLI(t, other, "login", "--service-principal", "-u", appID, "-p", first.Password, "--tenant", s.Boot.TenantID, "--data-dir", s.DataDir); err == nil {
		t.Fatalf("login with a removed secret: %s", out)
	}
	run(other, "login", "--service-principal", "-u", appID, "-p", cred.Password, "--tenant", s.Boot.TenantID, "--data-dir", s.DataDir, "-o", "none")
	if out, err := berthCLI(t, other, "ad", "app", "create", "--display-name", "not allowed"); err == nil || !strings.Contains(out, "Insufficient privileges") {
		t.Fatalf("app create without a directory role: %v %s", err, out)
	}
	if got := run(other, "ad", "sp", "show", "--id", appID, "--query", "id", "-o", "tsv"); got != spID {
		t.Errorf("a principal reading its own tenant: %q", got)
	}

	resp, err := s.Client().Get(s.URL + "/v1.0/applications")
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error struct{ Code string } }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || e.Error.Code != "InvalidAuthenticationToken" {
		t.Errorf("without a token: %s %+v", resp.Status, e)
	}

	run(admin, "ad", "app", "delete", "--id", appID)
	if out, err := berthCLI(t, admin, "ad", "sp", "show", "--id", appID); err == nil {
		t.Errorf("the service principal outlived its application: %s", out)
	}
}
