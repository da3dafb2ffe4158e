package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestUserCLI: the bootstrap administrator creates a user with a directory
// role and finds it by user principal name; the password shows up in no
// output and no log; a second user whose name differs only in letter case
// is a conflict; a principal with no directory role may not create users.
func TestUserCLI(t *testing.T) {
	s := berthtest.Start(t)
	admin, other := newCLI(t, t.TempDir()), newCLI(t, t.TempDir())
	const password = "Tr0ub4dor&3-not-in-logs"
	// Every output, stdout and stderr, is searched for the password.
	var outputs []string
	run := func(c cli, args ...string) string {
		t.Helper()
		out, err := c.try(args...)
		outputs = append(outputs, out)
		if err != nil {
			t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}
	run(admin, "login", "--data-dir", s.DataDir, "-o", "none")

	// The bootstrap tenant's domain is derived from its id; a user
	// principal name outside it is refused, naming the domain to use.
	domain := strings.ToLower(s.Boot.TenantID[:8]) + ".berth.localhost"
	out, err := admin.try("ad", "user", "create", "--display-name", "X", "--user-principal-name", "x@elsewhere.example", "--password", password)
	outputs = append(outputs, out)
	if err == nil || !strings.Contains(out, domain) {
		t.Fatalf("a user outside the tenant's domain: %v %s", err, out)
	}

	upn := "Ada@" + domain
	var created map[string]any
	if err := json.Unmarshal([]byte(run(admin, "ad", "user", "create", "--display-name", "Ada Lovelace", "--user-principal-name", upn,
		"--password", password, "--role", "User Administrator")), &created); err != nil {
		t.Fatal(err)
	}
	id, _ := created["id"].(string)
	if len(id) != 36 || created["userPrincipalName"] != upn || created["displayName"] != "Ada Lovelace" {
		t.Fatalf("user create: %v", created)
	}
	if got := run(admin, "ad", "user", "show", "--id", strings.ToLower(upn), "--query", "id", "-o", "tsv"); got != id {
		t.Fatalf("user show by UPN: %q, want %s", got, id)
	}
	if got := run(admin, "ad", "user", "show", "--id", id, "--query", "userPrincipalName", "-o", "tsv"); got != upn {
		t.Fatalf("user show by object id: %q", got)
	}
	// The tenant's first user, whom bootstrap made, and Ada.
	if got := run(admin, "ad", "user", "list", "--query", "sort([].userPrincipalName)", "-o", "tsv"); got != upn+"\n"+s.Boot.AdminUser {
		t.Fatalf("user list: %q", got)
	}
	if got := run(admin, "ad", "user", "list", "--upn", strings.ToUpper(upn), "--query", "length(@)", "-o", "tsv"); got != "1" {
		t.Fatalf("user list --upn: %q", got)
	}
	run(admin, "ad", "user", "show", "--id", id, "-o", "table")
	if out, err := admin.try("ad", "user", "show", "--id", "nobody@"+domain); err == nil || !strings.Contains(out, "doesn't exist") {
		t.Errorf("user show of nobody: %v %s", err, out)
	}
	if out, err := admin.try("ad", "user", "create", "--display-name", "B", "--user-principal-name", "b@"+domain, "--password", password, "--role", "Janitor"); err == nil || !strings.Contains(out, "unknown directory role") {
		t.Errorf("an unknown role: %v %s", err, out)
	}
	if got := run(admin, "ad", "user", "list", "--query", "length(@)", "-o", "tsv"); got != "2" {
		t.Errorf("a create with an unknown role left a user behind: %s users", got)
	}

	// The same name in another letter case: 409 at the API, and the
	// graph message from the CLI.
	tok := run(admin, "account", "get-access-token", "--resource", "https://graph.microsoft.com", "--query", "accessToken", "-o", "tsv")
	body := `{"accountEnabled":true,"displayName":"Ada again","userPrincipalName":"` + strings.ToUpper(upn) +
		`","passwordProfile":{"password":"` + password + `","forceChangePasswordNextSignIn":false}}`
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1.0/users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error struct{ Code string } }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || e.Error.Code != "Request_MultipleObjectsWithSameKeyValue" {
		t.Fatalf("a second user with the same UPN: %s %+v", resp.Status, e)
	}
	out, err = admin.try("ad", "user", "create", "--display-name", "Ada again", "--user-principal-name", strings.ToLower(upn), "--password", password)
	outputs = append(outputs, out)
	if err == nil || !strings.Contains(out, "Another object with the same value") {
		t.Fatalf("CLI create of a duplicate: %v %s", err, out)
	}

	// A service principal without a directory role: 403.
	appID := run(admin, "ad", "app", "create", "--display-name", "no-role", "--query", "appId", "-o", "tsv")
	secret := run(admin, "ad", "app", "credential", "reset", "--id", appID, "--query", "password", "-o", "tsv")
	run(admin, "ad", "sp", "create", "--id", appID, "-o", "none")
	run(other, "login", "--service-principal", "-u", appID, "-p", secret, "--tenant", s.Boot.TenantID, "--data-dir", s.DataDir, "-o", "none")
	tok = run(other, "account", "get-access-token", "--resource", "https://graph.microsoft.com", "--query", "accessToken", "-o", "tsv")
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/v1.0/users", strings.NewReader(strings.Replace(body, "Ada@", "Bob@", 1)))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || e.Error.Code != "Authorization_RequestDenied" {
		t.Fatalf("user create without a directory role: %s %+v", resp.Status, e)
	}
	if out, err := other.try("ad", "user", "create", "--display-name", "Bob", "--user-principal-name", "bob@"+domain, "--password", password); err == nil || !strings.Contains(out, "Insufficient privileges") {
		t.Fatalf("CLI user create without a directory role: %v %s", err, out)
	}
	// Reading is open to the tenant's principals.
	if got := run(other, "ad", "user", "show", "--id", upn, "--query", "id", "-o", "tsv"); got != id {
		t.Errorf("a principal reading its tenant's user: %q", got)
	}

	for _, out := range append(outputs, s.Log.String()) {
		if strings.Contains(out, password) || strings.Contains(out, "argon2") {
			t.Fatalf("the password or its hash leaked:\n%s", out)
		}
	}
}
