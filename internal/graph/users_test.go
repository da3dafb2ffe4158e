package graph

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/store"
)

func TestUsers(t *testing.T) {
	// Tenant "t" (domain t.example): a Global Administrator, an
	// Application Administrator and a principal with no role.
	f := newFixture(t,
		caller{id: "global", roles: []string{store.RoleGlobalAdministrator}},
		caller{id: "apps", roles: []string{store.RoleApplicationAdministrator}},
		caller{id: "plain"},
		caller{id: "global2", tenant: "t2", roles: []string{store.RoleGlobalAdministrator}},
	)
	meta := f.meta
	ctx := context.Background()
	do := f.do
	code := errorCode
	newUser := func(upn, pw string) string {
		return `{"accountEnabled":true,"displayName":"Ada Lovelace","userPrincipalName":"` + upn +
			`","passwordProfile":{"password":"` + pw + `","forceChangePasswordNextSignIn":false}}`
	}
	const pw = "s3cret-horse-battery"

	for token, status := range map[string]int{"plain": 403, "apps": 403} {
		if c, _ := do(token, "POST", "/v1.0/users", newUser("ada@t.example", pw)); c.status != status || code(c) != "Authorization_RequestDenied" {
			t.Fatalf("create user as %s: %+v", token, c)
		}
	}
	for name, body := range map[string]string{
		"short password": newUser("ada@t.example", "1234567"),
		"no password":    `{"accountEnabled":true,"displayName":"A","userPrincipalName":"ada@t.example"}`,
		"foreign domain": newUser("ada@t2.example", pw),
		"no domain":      newUser("ada", pw),
		"no name":        `{"accountEnabled":true,"userPrincipalName":"ada@t.example","passwordProfile":{"password":"` + pw + `"}}`,
	} {
		if c, _ := do("global", "POST", "/v1.0/users", body); c.status != 400 || code(c) != "Request_BadRequest" {
			t.Errorf("%s: %+v", name, c)
		}
	}

	c, raw := do("global", "POST", "/v1.0/users", newUser("Ada@t.example", pw))
	if c.status != 201 || c.body["userPrincipalName"] != "Ada@t.example" || c.body["displayName"] != "Ada Lovelace" || len(c.body) != 3 {
		t.Fatalf("create user: %s", raw)
	}
	if strings.Contains(raw, pw) || strings.Contains(raw, "argon2") {
		t.Fatalf("the password or its hash came back: %s", raw)
	}
	id := c.body["id"].(string)
	u, err := meta.GetUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify(pw, u.PasswordHash); err != nil || !ok {
		t.Fatalf("stored hash does not verify: %v %v", ok, err)
	}
	if c, _ := do("global", "POST", "/v1.0/users", newUser("ADA@T.EXAMPLE", pw)); c.status != 409 || code(c) != "Request_MultipleObjectsWithSameKeyValue" {
		t.Fatalf("same UPN in another case: %+v", c)
	}

	for _, key := range []string{id, "ada@t.example", url.PathEscape("ADA@t.example")} {
		if c, raw := do("plain", "GET", "/v1.0/users/"+key, ""); c.status != 200 || c.body["id"] != id || strings.Contains(raw, "argon2") {
			t.Errorf("get user %s: %s", key, raw)
		}
	}
	for _, key := range []string{id, "ada@t.example"} {
		if c, _ := do("global2", "GET", "/v1.0/users/"+key, ""); c.status != 404 {
			t.Errorf("another tenant reads user %s: %+v", key, c)
		}
	}
	for filter, n := range map[string]int{
		"userPrincipalName eq 'ada@T.example'": 1,
		"userPrincipalName eq 'bob@t.example'": 0,
		"startswith(displayName,'Ada')":        1,
		"":                                     1,
	} {
		if c, raw := do("plain", "GET", "/v1.0/users?$filter="+url.QueryEscape(filter), ""); c.status != 200 || len(c.body["value"].([]any)) != n {
			t.Errorf("filter %q: %s", filter, raw)
		}
	}
	if c, _ := do("plain", "GET", "/v1.0/users?$filter="+url.QueryEscape("appId eq 'x'"), ""); c.status != 400 {
		t.Errorf("unsupported filter: %+v", c)
	}

	// Directory roles: only a Global Administrator gives them.
	ref := func(objectID string) string {
		return `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/` + objectID + `"}`
	}
	userAdmin := "/v1.0/directoryRoles/roleTemplateId=" + store.RoleUserAdministrator + "/members/$ref"
	if c, _ := do("apps", "POST", userAdmin, ref("apps")); c.status != 403 {
		t.Fatalf("an Application Administrator raises itself: %+v", c)
	}
	if c, _ := do("global", "POST", "/v1.0/directoryRoles/roleTemplateId=00000000-0000-0000-0000-000000000000/members/$ref", ref(id)); c.status != 404 {
		t.Errorf("unknown role: %+v", c)
	}
	if c, _ := do("global", "POST", userAdmin, ref("global2")); c.status != 404 {
		t.Errorf("a principal of another tenant: %+v", c)
	}
	if c, _ := do("global", "POST", userAdmin, `{"@odata.id":"https://graph.microsoft.com/v1.0/users"}`); c.status != 400 {
		t.Errorf("bad reference: %+v", c)
	}
	if c, raw := do("global", "POST", userAdmin, ref(id)); c.status != 204 {
		t.Fatalf("add role member: %s", raw)
	}
	if c, _ := do("global", "POST", userAdmin, ref(id)); c.status != 400 {
		t.Errorf("adding a member twice: %+v", c)
	}
	if ok, err := meta.HasDirectoryRole(ctx, "t", id, store.RoleUserAdministrator); err != nil || !ok {
		t.Fatalf("role not recorded: %v %v", ok, err)
	}
	if c, raw := do("global", "POST", userAdmin, ref("plain")); c.status != 204 {
		t.Fatalf("give a service principal User Administrator: %s", raw)
	}
	// A User Administrator creates users but still not applications.
	if c, raw := do("plain", "POST", "/v1.0/users", newUser("bob@t.example", pw)); c.status != 201 {
		t.Fatalf("create user as User Administrator: %s", raw)
	}
	if c, _ := do("plain", "POST", "/v1.0/applications", `{"displayName":"x"}`); c.status != 403 {
		t.Fatalf("User Administrator creates an application: %+v", c)
	}
	// A user may be created disabled, or to change its password first.
	c, raw = do("global", "POST", "/v1.0/users", `{"accountEnabled":false,"displayName":"Off","userPrincipalName":"off@t.example","passwordProfile":{"password":"`+pw+`","forceChangePasswordNextSignIn":true}}`)
	if c.status != 201 {
		t.Fatalf("create a disabled user: %s", raw)
	}
	if u, err := meta.GetUser(ctx, c.body["id"].(string)); err != nil || !u.Disabled || !u.ForceChangePassword {
		t.Fatalf("a user created disabled: %+v, %v", u, err)
	}
	if u, err := meta.GetUser(ctx, id); err != nil || u.Disabled || u.ForceChangePassword {
		t.Fatalf("a user created enabled: %+v, %v", u, err)
	}
}

// TestUserChanges: PATCH and DELETE of users and DELETE of directory role
// members, with their authorization, bad input that changes nothing, and
// the tenant's last Global Administrator kept.
func TestUserChanges(t *testing.T) {
	f := newFixture(t,
		caller{id: "global", roles: []string{store.RoleGlobalAdministrator}},
		caller{id: "useradmin", roles: []string{store.RoleUserAdministrator}},
		caller{id: "apps", roles: []string{store.RoleApplicationAdministrator}},
		caller{id: "plain"},
		caller{id: "global2", tenant: "t2", roles: []string{store.RoleGlobalAdministrator}},
	)
	meta, do, code := f.meta, f.do, errorCode
	ctx := context.Background()
	const pw = "s3cret-horse-battery"
	create := func(upn string, roles ...string) string {
		t.Helper()
		c, raw := do("global", "POST", "/v1.0/users", `{"accountEnabled":true,"displayName":"`+upn+`","userPrincipalName":"`+upn+
			`","passwordProfile":{"password":"`+pw+`"}}`)
		if c.status != 201 {
			t.Fatalf("create %s: %s", upn, raw)
		}
		id := c.body["id"].(string)
		for _, role := range roles {
			must(t, meta.AddDirectoryRole(ctx, "t", id, role))
		}
		return id
	}
	get := func(id string) store.User {
		t.Helper()
		u, err := meta.GetUser(ctx, id)
		must(t, err)
		return u
	}
	ada := create("ada@t.example")
	boss := create("boss@t.example", store.RoleGlobalAdministrator)
	appBoss := create("apps@t.example", store.RoleApplicationAdministrator)
	peer := create("peer@t.example", store.RoleUserAdministrator)
	before := get(ada)

	// Only Global and User Administrators change users.
	for _, token := range []string{"plain", "apps"} {
		for _, req := range [][2]string{{"PATCH", `{"accountEnabled":false}`}, {"DELETE", ""}} {
			if c, _ := do(token, req[0], "/v1.0/users/"+ada, req[1]); c.status != 403 || code(c) != "Authorization_RequestDenied" {
				t.Errorf("%s %s: %+v", token, req[0], c)
			}
		}
	}
	// A User Administrator does not change administrators, but does change
	// other User Administrators.
	for _, id := range []string{boss, appBoss} {
		for _, req := range [][2]string{{"PATCH", `{"passwordProfile":{"password":"taken-over-now"}}`}, {"PATCH", `{"accountEnabled":false}`}, {"DELETE", ""}} {
			if c, _ := do("useradmin", req[0], "/v1.0/users/"+id, req[1]); c.status != 403 {
				t.Errorf("a User Administrator's %s %s of an administrator: %+v", req[0], req[1], c)
			}
		}
	}
	if c, raw := do("useradmin", "PATCH", "/v1.0/users/"+peer, `{"accountEnabled":false}`); c.status != 204 {
		t.Errorf("a User Administrator disables another: %s", raw)
	}
	// Bad input is refused in the graph shape and changes nothing.
	for name, body := range map[string]string{
		"malformed":        `{"accountEnabled":`,
		"not a boolean":    `{"accountEnabled":"no"}`,
		"short password":   `{"accountEnabled":false,"passwordProfile":{"password":"1234567"}}`,
		"empty password":   `{"accountEnabled":false,"passwordProfile":{"password":""}}`,
		"empty name":       `{"accountEnabled":false,"displayName":" "}`,
		"profile not JSON": `{"passwordProfile":"x"}`,
		"password number":  `{"passwordProfile":{"password":12345678}}`,
		"unsupported":      `{"accountEnabled":false,"jobTitle":"boss"}`,
		"a new name":       `{"userPrincipalName":"eve@t.example"}`,
		"MFA":              `{"passwordProfile":{"forceChangePasswordNextSignInWithMfa":true}}`,
		"not an object":    `[]`,
	} {
		c, _ := do("useradmin", "PATCH", "/v1.0/users/"+ada, body)
		if c.status != 400 || code(c) != "Request_BadRequest" || c.body["error"].(map[string]any)["message"] == "" {
			t.Errorf("%s: %+v", name, c)
		}
		if got := get(ada); got != before {
			t.Fatalf("%s changed the user: %+v", name, got)
		}
	}
	for _, who := range []string{"nobody@t.example", "00000000-0000-0000-0000-000000000000"} {
		if c, _ := do("global", "PATCH", "/v1.0/users/"+who, `{"accountEnabled":false}`); c.status != 404 || code(c) != "Request_ResourceNotFound" {
			t.Errorf("PATCH of %s: %+v", who, c)
		}
	}
	if c, _ := do("global2", "PATCH", "/v1.0/users/"+ada, `{"accountEnabled":false}`); c.status != 404 {
		t.Errorf("another tenant's administrator changes a user: %+v", c)
	}

	// Disabling, by user principal name, twice: 204 both times.
	for range 2 {
		if c, raw := do("useradmin", "PATCH", "/v1.0/users/ADA@t.example", `{"accountEnabled":false}`); c.status != 204 || raw != "" {
			t.Fatalf("disable: %d %s", c.status, raw)
		}
	}
	if u := get(ada); !u.Disabled || u.SessionEpoch == before.SessionEpoch || u.PasswordHash != before.PasswordHash || u.DisplayName != before.DisplayName {
		t.Fatalf("after disabling: %+v", u)
	}
	// A new password, to be changed at the next sign-in, and enabled again.
	const newPW = "another-long-passphrase"
	if c, raw := do("useradmin", "PATCH", "/v1.0/users/"+ada, `{"accountEnabled":true,"displayName":"Ada L.","passwordProfile":{"password":"`+newPW+`","forceChangePasswordNextSignIn":true}}`); c.status != 204 {
		t.Fatalf("new password: %s", raw)
	}
	epoch := get(ada).SessionEpoch
	if c, raw := do("useradmin", "PATCH", "/v1.0/users/"+ada, `{"accountEnabled":true,"displayName":"Ada L.","passwordProfile":{"password":"`+newPW+`","forceChangePasswordNextSignIn":true}}`); c.status != 204 {
		t.Fatalf("the same again: %s", raw)
	}
	u := get(ada)
	if u.SessionEpoch == epoch {
		t.Fatal("a new password did not revoke the sessions")
	}
	if ok, err := password.Verify(newPW, u.PasswordHash); err != nil || !ok || u.Disabled || !u.ForceChangePassword || u.DisplayName != "Ada L." {
		t.Fatalf("after a new password: %+v (verifies: %v %v)", u, ok, err)
	}
	if ok, _ := password.Verify(pw, u.PasswordHash); ok {
		t.Fatal("the old password still verifies")
	}
	if c, _ := do("global", "PATCH", "/v1.0/users/"+ada, `{"passwordProfile":{"forceChangePasswordNextSignIn":false}}`); c.status != 204 || get(ada).ForceChangePassword {
		t.Fatalf("clearing the forced change: %+v", c)
	}
	if c, _ := do("global", "PATCH", "/v1.0/users/"+boss, `{"accountEnabled":false}`); c.status != 204 || !get(boss).Disabled {
		t.Fatalf("a Global Administrator disables another: %+v", c)
	}

	// Role membership: only a Global Administrator takes roles away.
	member := func(role, id string) string {
		return "/v1.0/directoryRoles/roleTemplateId=" + role + "/members/" + id + "/$ref"
	}
	held := func(id, role string) bool {
		t.Helper()
		ok, err := meta.HasDirectoryRole(ctx, "t", id, role)
		must(t, err)
		return ok
	}
	for _, token := range []string{"useradmin", "apps", "plain"} {
		if c, _ := do(token, "DELETE", member(store.RoleUserAdministrator, peer), ""); c.status != 403 {
			t.Errorf("%s removes a role member: %+v", token, c)
		}
	}
	if c, _ := do("global2", "DELETE", member(store.RoleUserAdministrator, peer), ""); c.status != 404 {
		t.Errorf("another tenant's administrator removes a role member: %+v", c)
	}
	for name, path := range map[string]string{
		"unknown role": member("00000000-0000-0000-0000-000000000000", peer),
		"role by id":   "/v1.0/directoryRoles/" + store.RoleUserAdministrator + "/members/" + peer + "/$ref",
		"without $ref": "/v1.0/directoryRoles/roleTemplateId=" + store.RoleUserAdministrator + "/members/" + peer + "/x",
		"not a member": member(store.RoleGlobalAdministrator, peer),
		"nobody":       member(store.RoleUserAdministrator, "nobody"),
		"another's sp": member(store.RoleGlobalAdministrator, "global2"),
	} {
		if c, _ := do("global", "DELETE", path, ""); c.status != 404 || code(c) != "Request_ResourceNotFound" {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if !held(peer, store.RoleUserAdministrator) || !held("useradmin", store.RoleUserAdministrator) {
		t.Fatal("a refused removal took a role")
	}
	if c, raw := do("global", "DELETE", member(store.RoleUserAdministrator, peer), ""); c.status != 204 || raw != "" {
		t.Fatalf("remove a role member: %d %s", c.status, raw)
	}
	if held(peer, store.RoleUserAdministrator) {
		t.Fatal("the role is still held")
	}
	if c, _ := do("global", "DELETE", member(store.RoleUserAdministrator, peer), ""); c.status != 404 {
		t.Errorf("removing it again: %+v", c)
	}
	// Without its role, the User Administrator is a plain principal.
	if c, raw := do("global", "DELETE", member(store.RoleUserAdministrator, "useradmin"), ""); c.status != 204 {
		t.Fatalf("remove a service principal's role: %s", raw)
	}
	if c, _ := do("useradmin", "PATCH", "/v1.0/users/"+ada, `{"accountEnabled":false}`); c.status != 403 {
		t.Fatalf("a former User Administrator changes a user: %+v", c)
	}

	// The tenant's last Global Administrator that can act is "global" (boss
	// is disabled): it may not give the role up, and is told why.
	c, raw := do("global", "DELETE", member(store.RoleGlobalAdministrator, "global"), "")
	if c.status != 400 || code(c) != "Request_BadRequest" || !strings.Contains(raw, "last Global Administrator") {
		t.Fatalf("the last Global Administrator gives the role up: %s", raw)
	}
	if !held("global", store.RoleGlobalAdministrator) {
		t.Fatal("the refused removal took the role")
	}
	// Once boss is enabled again, it may.
	if c, _ := do("global", "PATCH", "/v1.0/users/"+boss, `{"accountEnabled":true}`); c.status != 204 {
		t.Fatalf("enable boss: %+v", c)
	}
	if c, raw := do("global", "DELETE", member(store.RoleGlobalAdministrator, "global"), ""); c.status != 204 {
		t.Fatalf("a Global Administrator gives the role up beside another: %s", raw)
	}

	// Deleting: 204, then 404; the user is gone with its roles.
	if c, _ := do("global2", "DELETE", "/v1.0/users/"+peer, ""); c.status != 404 {
		t.Errorf("another tenant's administrator deletes a user: %+v", c)
	}
	must(t, meta.AddDirectoryRole(ctx, "t", "global", store.RoleGlobalAdministrator))
	for _, id := range []string{peer, "apps@t.example"} {
		if c, raw := do("global", "DELETE", "/v1.0/users/"+id, ""); c.status != 204 || raw != "" {
			t.Fatalf("delete %s: %d %s", id, c.status, raw)
		}
		if c, _ := do("global", "DELETE", "/v1.0/users/"+id, ""); c.status != 404 || code(c) != "Request_ResourceNotFound" {
			t.Errorf("delete %s again: %+v", id, c)
		}
		if c, _ := do("plain", "GET", "/v1.0/users/"+id, ""); c.status != 404 {
			t.Errorf("get a deleted user: %+v", c)
		}
	}
	if held(appBoss, store.RoleApplicationAdministrator) {
		t.Fatal("a deleted user's role outlived it")
	}
}
