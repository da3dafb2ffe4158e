package graph

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/store"
)

func TestApplicationOwners(t *testing.T) {
	// Tenant "t": an administrator, two principals with no role, and a
	// user; tenant "t2": its own administrator.
	f := newFixture(t,
		caller{id: "admin", roles: []string{store.RoleApplicationAdministrator}},
		caller{id: "owner"},
		caller{id: "plain"},
		caller{id: "admin2", tenant: "t2", roles: []string{store.RoleGlobalAdministrator}},
	)
	meta := f.meta
	ctx := context.Background()
	if err := meta.CreateUser(ctx, store.User{ObjectID: "ada", TenantID: "t", UserPrincipalName: "ada@t.example", DisplayName: "Ada", PasswordHash: "h", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	do := func(token, method, path, body string) call {
		t.Helper()
		c, _ := f.do(token, method, path, body)
		return c
	}
	ref := func(id string) string {
		return `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/` + id + `"}`
	}
	owners := func(app string) []string {
		t.Helper()
		c := do("plain", "GET", "/v1.0/applications/"+app+"/owners", "")
		if c.status != 200 {
			t.Fatalf("owners of %s: %+v", app, c)
		}
		var out []string
		for _, o := range c.body["value"].([]any) {
			o := o.(map[string]any)
			out = append(out, o["@odata.type"].(string)+" "+o["id"].(string))
		}
		return out
	}

	app := do("admin", "POST", "/v1.0/applications", `{"displayName":"mine"}`).body["id"].(string)
	other := do("admin", "POST", "/v1.0/applications", `{"displayName":"theirs"}`).body["id"].(string)
	if got := owners(app); len(got) != 1 || got[0] != "#microsoft.graph.servicePrincipal admin" {
		t.Fatalf("the creator is not the only owner: %v", got)
	}

	// Only administrators and owners add owners, and only principals of
	// the application's tenant.
	if c := do("plain", "POST", "/v1.0/applications/"+app+"/owners/$ref", ref("plain")); c.status != 403 {
		t.Fatalf("a non-owner adding itself: %+v", c)
	}
	if c := do("admin", "POST", "/v1.0/applications/"+app+"/owners/$ref", ref("owner")); c.status != 204 {
		t.Fatalf("add owner: %+v", c)
	}
	if c := do("admin", "POST", "/v1.0/applications/"+app+"/owners/$ref", ref("owner")); c.status != 400 {
		t.Fatalf("an owner twice: %+v", c)
	}
	if c := do("owner", "POST", "/v1.0/applications/"+app+"/owners/$ref", ref("ada")); c.status != 204 {
		t.Fatalf("an owner adding a user: %+v", c)
	}
	for what, c := range map[string]call{
		"unknown principal":         do("admin", "POST", "/v1.0/applications/"+app+"/owners/$ref", ref("nobody")),
		"another tenant's":          do("admin", "POST", "/v1.0/applications/"+app+"/owners/$ref", ref("admin2")),
		"into another tenant's app": do("admin2", "POST", "/v1.0/applications/"+app+"/owners/$ref", ref("admin2")),
		"unknown application":       do("admin", "POST", "/v1.0/applications/nope/owners/$ref", ref("plain")),
	} {
		if c.status != 404 {
			t.Errorf("%s: %+v", what, c)
		}
	}
	if c := do("admin", "POST", "/v1.0/applications/"+app+"/owners/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/users"}`); c.status != 400 {
		t.Errorf("a reference to no object: %+v", c)
	}
	if c := do("admin", "POST", "/v1.0/applications/"+app+"/owners/x", ref("plain")); c.status != 404 {
		t.Errorf("owners/x: %+v", c)
	}
	if got := owners(app); strings.Join(got, ",") != "#microsoft.graph.user ada,#microsoft.graph.servicePrincipal admin,#microsoft.graph.servicePrincipal owner" {
		t.Fatalf("owners: %v", got)
	}
	if c := do("admin2", "GET", "/v1.0/applications/"+app+"/owners", ""); c.status != 404 {
		t.Fatalf("another tenant's owners: %+v", c)
	}

	// An owner manages its application's secrets, and nothing else.
	c := do("owner", "POST", "/v1.0/applications/"+app+"/addPassword", `{}`)
	if c.status != 200 || c.body["secretText"] == nil {
		t.Fatalf("addPassword by an owner: %+v", c)
	}
	if c := do("owner", "POST", "/v1.0/applications/"+app+"/removePassword", `{"keyId":"`+c.body["keyId"].(string)+`"}`); c.status != 204 {
		t.Fatalf("removePassword by an owner: %+v", c)
	}
	for what, c := range map[string]call{
		"addPassword by a non-owner":    do("plain", "POST", "/v1.0/applications/"+app+"/addPassword", `{}`),
		"addPassword on another app":    do("owner", "POST", "/v1.0/applications/"+other+"/addPassword", `{}`),
		"owner of another app":          do("owner", "POST", "/v1.0/applications/"+other+"/owners/$ref", ref("owner")),
		"create by an owner":            do("owner", "POST", "/v1.0/applications", `{"displayName":"x"}`),
		"delete by an owner":            do("owner", "DELETE", "/v1.0/applications/"+app, ""),
		"service principal by an owner": do("owner", "POST", "/v1.0/servicePrincipals", `{"appId":"app-x"}`),
	} {
		if c.status != 403 {
			t.Errorf("%s: %+v", what, c)
		}
	}
}
