package graph

import (
	"fmt"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/store"
)

func TestFederatedCredentials(t *testing.T) {
	f := newFixture(t,
		caller{id: "admin", roles: []string{store.RoleApplicationAdministrator}},
		caller{id: "plain"},
		caller{id: "admin2", tenant: "t2", roles: []string{store.RoleGlobalAdministrator}},
	)
	do := func(token, method, path, body string) call {
		t.Helper()
		c, _ := f.do(token, method, path, body)
		return c
	}
	app := do("admin", "POST", "/v1.0/applications", `{"displayName":"workload"}`).body["id"].(string)
	base := "/v1.0/applications/" + app + "/federatedIdentityCredentials"
	body := func(name string) string {
		return `{"name":"` + name + `","issuer":"https://oidc.example/cluster","subject":"system:serviceaccount:ns:` + name + `"}`
	}

	c := do("admin", "POST", base, body("kube-sa"))
	if c.status != 201 || c.body["name"] != "kube-sa" || c.body["issuer"] != "https://oidc.example/cluster" ||
		c.body["subject"] != "system:serviceaccount:ns:kube-sa" || fmt.Sprint(c.body["audiences"]) != "[api://AzureADTokenExchange]" ||
		c.body["description"] != nil || !guidPattern.MatchString(fmt.Sprint(c.body["id"])) {
		t.Fatalf("create: %+v", c)
	}
	id := c.body["id"].(string)
	c = do("admin", "POST", base, `{"name":"ci_1","issuer":"https://ci.example","subject":"repo:x","audiences":["api://custom"],"description":"CI"}`)
	if c.status != 201 || fmt.Sprint(c.body["audiences"]) != "[api://custom]" || c.body["description"] != "CI" {
		t.Fatalf("create with audiences and description: %+v", c)
	}
	c = do("plain", "GET", base, "")
	if c.status != 200 || len(c.body["value"].([]any)) != 2 || c.body["value"].([]any)[0].(map[string]any)["name"] != "ci_1" {
		t.Fatalf("list: %+v", c)
	}
	for _, ref := range []string{id, "kube-sa", "KUBE-SA"} {
		if c := do("plain", "GET", base+"/"+ref, ""); c.status != 200 || c.body["id"] != id {
			t.Errorf("get %s: %+v", ref, c)
		}
	}
	if c := do("plain", "GET", base+"/nothing", ""); c.status != 404 {
		t.Errorf("get unknown: %+v", c)
	}

	for what, tc := range map[string]struct {
		body   string
		status int
		msg    string
	}{
		"same name":          {body("kube-sa"), 409, "already exists"},
		"same name, upper":   {body("KUBE-SA"), 409, "already exists"},
		"short name":         {body("ab"), 400, "3 to 120"},
		"long name":          {body(strings.Repeat("a", 121)), 400, "3 to 120"},
		"name with a dot":    {body("a.b.c"), 400, "3 to 120"},
		"no name":            {`{"issuer":"https://i.example","subject":"s"}`, 400, "3 to 120"},
		"http issuer":        {`{"name":"abc","issuer":"http://i.example","subject":"s"}`, 400, "https URL"},
		"issuer not a URL":   {`{"name":"abc","issuer":"cluster","subject":"s"}`, 400, "https URL"},
		"no subject":         {`{"name":"abc","issuer":"https://i.example","subject":" "}`, 400, "subject is required"},
		"empty audience":     {`{"name":"abc","issuer":"https://i.example","subject":"s","audiences":[""]}`, 400, "audience"},
		"malformed JSON":     {`{"name":`, 400, "Unable to read JSON"},
		"unknown app":        {body("abc"), 404, ""},
		"long description":   {`{"name":"abc","issuer":"https://i.example","subject":"s","description":"` + strings.Repeat("d", 601) + `"}`, 400, "description"},
		"subject over limit": {`{"name":"abc","issuer":"https://i.example","subject":"` + strings.Repeat("s", 601) + `"}`, 400, "subject"},
	} {
		path := base
		if what == "unknown app" {
			path = "/v1.0/applications/nope/federatedIdentityCredentials"
		}
		c := do("admin", "POST", path, tc.body)
		msg, _ := c.body["error"].(map[string]any)["message"].(string)
		if c.status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %q, want %d mentioning %q", what, c.status, msg, tc.status, tc.msg)
		}
	}

	// Changing: the name is fixed, other fields are checked as on
	// creation, and a refused change leaves the credential as it was.
	if c := do("admin", "PATCH", base+"/kube-sa", `{"subject":"system:serviceaccount:ns:other","description":"moved"}`); c.status != 204 {
		t.Fatalf("patch: %+v", c)
	}
	c = do("plain", "GET", base+"/"+id, "")
	if c.body["subject"] != "system:serviceaccount:ns:other" || c.body["description"] != "moved" || c.body["issuer"] != "https://oidc.example/cluster" {
		t.Fatalf("after patch: %+v", c.body)
	}
	for what, tc := range map[string]struct{ body, msg string }{
		"rename":      {`{"name":"renamed"}`, "name cannot be changed"},
		"http issuer": {`{"issuer":"http://i.example"}`, "https URL"},
		"no subject":  {`{"subject":""}`, "subject is required"},
	} {
		c := do("admin", "PATCH", base+"/"+id, tc.body)
		msg, _ := c.body["error"].(map[string]any)["message"].(string)
		if c.status != 400 || !strings.Contains(msg, tc.msg) {
			t.Errorf("patch %s: %d %q", what, c.status, msg)
		}
	}
	if c := do("admin", "PATCH", base+"/"+id, `{"name":"KUBE-SA"}`); c.status != 204 {
		t.Errorf("patch with the same name in another case: %+v", c)
	}
	if c := do("plain", "GET", base+"/"+id, ""); c.body["subject"] != "system:serviceaccount:ns:other" || c.body["name"] != "kube-sa" {
		t.Fatalf("refused patches changed the credential: %+v", c.body)
	}

	// Only administrators and owners change them; other tenants see
	// nothing.
	for what, tc := range map[string]struct {
		c    call
		want int
	}{
		"create by a non-owner":      {do("plain", "POST", base, body("mine")), 403},
		"patch by a non-owner":       {do("plain", "PATCH", base+"/"+id, `{"subject":"x"}`), 403},
		"delete by a non-owner":      {do("plain", "DELETE", base+"/"+id, ""), 403},
		"list from another tenant":   {do("admin2", "GET", base, ""), 404},
		"get from another tenant":    {do("admin2", "GET", base+"/"+id, ""), 404},
		"delete from another tenant": {do("admin2", "DELETE", base+"/"+id, ""), 404},
		"patch of an unknown":        {do("admin", "PATCH", base+"/nothing", `{"subject":"x"}`), 404},
		"delete of an unknown":       {do("admin", "DELETE", base+"/nothing", ""), 404},
		"create from another tenant": {do("admin2", "POST", base, body("theirs")), 404},
	} {
		if tc.c.status != tc.want {
			t.Errorf("%s: %+v, want %d", what, tc.c, tc.want)
		}
	}

	// At most 20 per application.
	for i := 2; i < 20; i++ {
		if c := do("admin", "POST", base, body(fmt.Sprintf("sa-%02d", i))); c.status != 201 {
			t.Fatalf("credential %d: %+v", i+1, c)
		}
	}
	c = do("admin", "POST", base, body("one-too-many"))
	if msg, _ := c.body["error"].(map[string]any)["message"].(string); c.status != 400 || !strings.Contains(msg, "at most 20") {
		t.Fatalf("the 21st credential: %+v", c)
	}

	if c := do("admin", "DELETE", base+"/kube-sa", ""); c.status != 204 {
		t.Fatalf("delete by name: %+v", c)
	}
	if c := do("admin", "DELETE", base+"/"+id, ""); c.status != 404 {
		t.Fatalf("delete twice: %+v", c)
	}
	if c := do("admin", "POST", base, body("kube-sa")); c.status != 201 {
		t.Fatalf("the name is free again, and the count below the limit: %+v", c)
	}
}
