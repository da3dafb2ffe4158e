package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestDirectoryOwners: the bootstrap administrator registers an
// application and makes a service principal with no directory role its
// owner; logged in as that principal, the CLI resets the application's
// secret, but may neither register applications nor touch another
// application's secrets.
func TestDirectoryOwners(t *testing.T) {
	s := berthtest.Start(t)
	admin, ownerCfg := newCLI(t, t.TempDir()), newCLI(t, t.TempDir())
	admin.run("login", "--data-dir", s.DataDir, "-o", "none")

	// The owner-to-be: a principal with a secret and no role.
	ownerApp := admin.run("ad", "app", "create", "--display-name", "owner-principal", "--query", "appId", "-o", "tsv")
	ownerSecret := admin.run("ad", "app", "credential", "reset", "--id", ownerApp, "--query", "password", "-o", "tsv")
	ownerSP := admin.run("ad", "sp", "create", "--id", ownerApp, "--query", "id", "-o", "tsv")

	owned := admin.run("ad", "app", "create", "--display-name", "owned", "--query", "id", "-o", "tsv")
	ownedAppID := admin.run("ad", "app", "show", "--id", owned, "--query", "appId", "-o", "tsv")
	other := admin.run("ad", "app", "create", "--display-name", "not-owned", "--query", "appId", "-o", "tsv")
	first := admin.run("ad", "app", "credential", "reset", "--id", ownedAppID, "--query", "password", "-o", "tsv")

	tok := admin.run("account", "get-access-token", "--resource", "https://graph.microsoft.com", "--query", "accessToken", "-o", "tsv")
	graph := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw json.RawMessage
		json.NewDecoder(resp.Body).Decode(&raw)
		return resp.StatusCode, raw
	}
	if status, body := graph("POST", "/v1.0/applications/"+owned+"/owners/$ref",
		`{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/`+ownerSP+`"}`); status != http.StatusNoContent {
		t.Fatalf("add owner: %d %s", status, body)
	}
	status, body := graph("GET", "/v1.0/applications/"+owned+"/owners", "")
	var list struct {
		Value []struct {
			Type string `json:"@odata.type"`
			ID   string `json:"id"`
		}
	}
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil {
		t.Fatalf("list owners: %d %s %v", status, body, err)
	}
	found := false
	for _, o := range list.Value {
		found = found || (o.ID == ownerSP && o.Type == "#microsoft.graph.servicePrincipal")
	}
	if len(list.Value) != 2 || !found {
		t.Fatalf("owners: %s, want the administrator and %s", body, ownerSP)
	}

	ownerCfg.run("login", "--service-principal", "-u", ownerApp, "-p", ownerSecret, "--tenant", s.Boot.TenantID, "--data-dir", s.DataDir, "-o", "none")
	var cred struct{ AppID, Password string }
	if err := json.Unmarshal([]byte(ownerCfg.run("ad", "app", "credential", "reset", "--id", ownedAppID)), &cred); err != nil ||
		cred.AppID != ownedAppID || len(cred.Password) < 32 || cred.Password == first {
		t.Fatalf("credential reset by the owner: %+v %v", cred, err)
	}
	if n := admin.run("ad", "app", "show", "--id", ownedAppID, "--query", "length(passwordCredentials)", "-o", "tsv"); n != "1" {
		t.Fatalf("the owner's reset left %s secrets, want its new one only", n)
	}
	if out, err := ownerCfg.try("ad", "app", "create", "--display-name", "not allowed"); err == nil || !strings.Contains(out, "Insufficient privileges") {
		t.Fatalf("app create by an owner without a role: %v %s", err, out)
	}
	if out, err := ownerCfg.try("ad", "app", "credential", "reset", "--id", other); err == nil || !strings.Contains(out, "Insufficient privileges") {
		t.Fatalf("credential reset of an application it does not own: %v %s", err, out)
	}
	if n := admin.run("ad", "app", "show", "--id", other, "--query", "length(passwordCredentials)", "-o", "tsv"); n != "0" {
		t.Fatalf("a refused reset left %s secrets", n)
	}
}
