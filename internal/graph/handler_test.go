package graph

import (
	"context"
	"net/url"
	"testing"

	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/sts"
)

// tokens maps a test bearer token to its caller. This is a stand-in for the
// token service's verifier, so that each case here names its caller in one
// word; the real verifier with real signed tokens is exercised end to end in
// e2e/directory_test.go and unit-tested in internal/sts.
type tokens map[string]sts.Claims

func (t tokens) Verify(_ context.Context, token string, want sts.Resource) (sts.Claims, error) {
	c, ok := t[token]
	if !ok || want != sts.Directory {
		return sts.Claims{}, sts.ErrInvalidToken
	}
	return c, nil
}

type call struct {
	status int
	body   map[string]any
}

func TestHandler(t *testing.T) {
	// Tenant "t" has an administrator and a plain principal; tenant "t2"
	// has its own administrator, who must not see into "t".
	f := newFixture(t,
		caller{id: "admin", roles: []string{store.RoleApplicationAdministrator}},
		caller{id: "user"},
		caller{id: "admin2", tenant: "t2", roles: []string{store.RoleGlobalAdministrator}},
	)
	do := func(token, method, path, body string) call {
		t.Helper()
		c, _ := f.do(token, method, path, body)
		return c
	}
	code := errorCode

	if c := do("", "GET", "/v1.0/applications", ""); c.status != 401 || code(c) != "InvalidAuthenticationToken" {
		t.Fatalf("no token: %+v", c)
	}
	if c := do("forged", "GET", "/v1.0/nothing", ""); c.status != 401 {
		t.Fatalf("bad token: %+v", c)
	}
	if c := do("user", "POST", "/v1.0/applications", `{"displayName":"x"}`); c.status != 403 || code(c) != "Authorization_RequestDenied" {
		t.Fatalf("create without a role: %+v", c)
	}
	if c := do("admin", "POST", "/v1.0/applications", `{"displayName":`); c.status != 400 {
		t.Fatalf("malformed JSON: %+v", c)
	}
	if c := do("admin", "POST", "/v1.0/applications", `{"displayName":"x","signInAudience":"Everyone"}`); c.status != 400 {
		t.Fatalf("bad audience: %+v", c)
	}
	c := do("admin", "POST", "/v1.0/applications", `{"displayName":"web app","signInAudience":"AzureADMultipleOrgs","web":{"redirectUris":["https://a.example/cb"]}}`)
	if c.status != 201 || c.body["displayName"] != "web app" || c.body["appId"] == "" {
		t.Fatalf("create: %+v", c)
	}
	objID, appID := c.body["id"].(string), c.body["appId"].(string)
	if web := c.body["web"].(map[string]any); web["redirectUris"].([]any)[0] != "https://a.example/cb" {
		t.Errorf("web %v", web)
	}
	if c := do("user", "GET", "/v1.0/applications/"+objID, ""); c.status != 200 || c.body["appId"] != appID {
		t.Fatalf("get: %+v", c)
	}
	if c := do("user", "GET", "/v1.0/applications/"+appID, ""); c.status != 404 || code(c) != "Request_ResourceNotFound" {
		t.Fatalf("get by app id: %+v", c)
	}
	for filter, n := range map[string]int{
		"displayName eq 'WEB APP'":      1,
		"startswith(displayName,'web')": 1,
		"startswith(displayName,'api')": 0,
		"appId eq '" + appID + "'":      1,
		"":                              1,
		"displayName eq 'it''s not'":    0,
	} {
		c := do("user", "GET", "/v1.0/applications?$filter="+url.QueryEscape(filter), "")
		if c.status != 200 || len(c.body["value"].([]any)) != n {
			t.Errorf("filter %q: %+v", filter, c)
		}
	}
	for _, filter := range []string{"signInAudience eq 'x'", "displayName eq 2020", "displayName ge 'a'"} {
		if c := do("user", "GET", "/v1.0/applications?$filter="+url.QueryEscape(filter), ""); c.status != 400 {
			t.Errorf("unsupported filter %q: %+v", filter, c)
		}
	}

	c = do("admin", "POST", "/v1.0/applications/"+objID+"/addPassword", `{"passwordCredential":{"displayName":"ci"}}`)
	secretText, _ := c.body["secretText"].(string)
	if c.status != 200 || len(secretText) < 32 || c.body["hint"] != secretText[:3] || c.body["displayName"] != "ci" {
		t.Fatalf("addPassword: %+v", c)
	}
	keyID := c.body["keyId"].(string)
	c = do("user", "GET", "/v1.0/applications/"+objID, "")
	pcs := c.body["passwordCredentials"].([]any)
	if len(pcs) != 1 || pcs[0].(map[string]any)["secretText"] != nil || pcs[0].(map[string]any)["keyId"] != keyID {
		t.Fatalf("password credentials after addPassword: %v", pcs)
	}
	if c := do("user", "POST", "/v1.0/applications/"+objID+"/removePassword", `{"keyId":"`+keyID+`"}`); c.status != 403 {
		t.Fatalf("removePassword without a role: %+v", c)
	}
	if c := do("admin", "POST", "/v1.0/applications/"+objID+"/removePassword", `{"keyId":"`+keyID+`"}`); c.status != 204 {
		t.Fatalf("removePassword: %+v", c)
	}

	c = do("admin", "POST", "/v1.0/servicePrincipals", `{"appId":"`+appID+`"}`)
	if c.status != 201 || c.body["appOwnerOrganizationId"] != "t" || c.body["servicePrincipalType"] != "Application" {
		t.Fatalf("create service principal: %+v", c)
	}
	spID := c.body["id"].(string)
	if c := do("admin", "POST", "/v1.0/servicePrincipals", `{"appId":"`+appID+`"}`); c.status != 409 {
		t.Fatalf("second service principal: %+v", c)
	}
	if c := do("admin", "POST", "/v1.0/servicePrincipals", `{"appId":"nope"}`); c.status != 400 {
		t.Fatalf("service principal of no application: %+v", c)
	}
	if c := do("user", "GET", "/v1.0/servicePrincipals/"+spID, ""); c.status != 200 || c.body["appId"] != appID {
		t.Fatalf("get service principal: %+v", c)
	}
	for filter, n := range map[string]int{
		"appId eq '" + appID + "'":                             1,
		"displayName eq 'web app'":                             1,
		"servicePrincipalNames/any(c:c eq 'http://web app')":   1,
		"servicePrincipalNames/any(x: x eq '" + appID + "')":   1,
		"servicePrincipalNames/any(c:c eq 'http://elsewhere')": 0,
		"": 3,
	} {
		c := do("user", "GET", "/v1.0/servicePrincipals?$filter="+url.QueryEscape(filter), "")
		if c.status != 200 || len(c.body["value"].([]any)) != n {
			t.Errorf("filter %q: %+v", filter, c)
		}
	}

	byIDs := func(token, body string) []any {
		t.Helper()
		c := do(token, "POST", "/v1.0/directoryObjects/getByIds", body)
		if c.status != 200 {
			t.Fatalf("getByIds %s: %+v", body, c)
		}
		return c.body["value"].([]any)
	}
	got := byIDs("user", `{"ids":["`+spID+`","`+objID+`","nope"]}`)
	if len(got) != 2 || got[0].(map[string]any)["@odata.type"] != "#microsoft.graph.servicePrincipal" || got[0].(map[string]any)["appId"] != appID ||
		got[1].(map[string]any)["@odata.type"] != "#microsoft.graph.application" {
		t.Fatalf("getByIds: %v", got)
	}
	if got := byIDs("user", `{"ids":["`+spID+`","`+objID+`"],"types":["application"]}`); len(got) != 1 || got[0].(map[string]any)["id"] != objID {
		t.Fatalf("getByIds of applications: %v", got)
	}
	if got := byIDs("admin2", `{"ids":["`+spID+`","`+objID+`"]}`); len(got) != 0 {
		t.Fatalf("getByIds across tenants: %v", got)
	}

	// Another tenant sees none of it, but may take the multi-tenant
	// application in (as admin consent does); a single-tenant one it may
	// not.
	if c := do("admin2", "GET", "/v1.0/applications/"+objID, ""); c.status != 404 {
		t.Fatalf("another tenant's application: %+v", c)
	}
	if c := do("admin2", "GET", "/v1.0/applications", ""); c.status != 200 || len(c.body["value"].([]any)) != 0 {
		t.Fatalf("another tenant's list: %+v", c)
	}
	if c := do("admin2", "DELETE", "/v1.0/applications/"+objID, ""); c.status != 404 {
		t.Fatalf("deleting another tenant's application: %+v", c)
	}
	if c := do("admin2", "POST", "/v1.0/applications/"+objID+"/addPassword", `{}`); c.status != 404 {
		t.Fatalf("a secret on another tenant's application: %+v", c)
	}
	if c := do("admin2", "GET", "/v1.0/servicePrincipals/"+spID, ""); c.status != 404 {
		t.Fatalf("another tenant's service principal: %+v", c)
	}
	if c := do("admin2", "POST", "/v1.0/servicePrincipals", `{"appId":"`+appID+`"}`); c.status != 201 || c.body["appOwnerOrganizationId"] != "t" {
		t.Fatalf("service principal of a multi-tenant application: %+v", c)
	}
	single := do("admin", "POST", "/v1.0/applications", `{"displayName":"mine"}`)
	if c := do("admin2", "POST", "/v1.0/servicePrincipals", `{"appId":"`+single.body["appId"].(string)+`"}`); c.status != 400 {
		t.Fatalf("service principal of a single-tenant application elsewhere: %+v", c)
	}

	if c := do("user", "DELETE", "/v1.0/applications/"+objID, ""); c.status != 403 {
		t.Fatalf("delete without a role: %+v", c)
	}
	if c := do("admin", "DELETE", "/v1.0/applications/"+objID, ""); c.status != 204 {
		t.Fatalf("delete: %+v", c)
	}
	if c := do("admin", "GET", "/v1.0/servicePrincipals/"+spID, ""); c.status != 404 {
		t.Fatalf("service principal after its application was deleted: %+v", c)
	}
}
