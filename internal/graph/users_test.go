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
		"disabled":       `{"accountEnabled":false,"displayName":"A","userPrincipalName":"ada@t.example","passwordProfile":{"password":"` + pw + `"}}`,
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
}
