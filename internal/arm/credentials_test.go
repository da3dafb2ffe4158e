package arm

import (
	"strings"
	"testing"
)

// TestRegistryCredentials: listCredentials and regenerateCredential are
// POSTs whose answers have the cloud's shape; a new password is in one
// answer only, which no cache may keep.
func TestRegistryCredentials(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	f.want(f.do("owner", "PUT", registry+api, `{}`), 201, "")
	list, regen := registry+"/listCredentials"+api, registry+"/regenerateCredential"+api
	f.want(f.do("owner", "POST", list, ""), 400, "UnAuthorizedForCredentialOperations")
	f.want(f.do("owner", "PATCH", registry+api, `{"properties":{"adminUserEnabled":true}}`), 200, "")

	a := f.do("contributor", "POST", strings.ToLower(list), "")
	if a.status != 200 || a.raw != `{"username":"myRegistry","passwords":[{"name":"password","value":null},{"name":"password2","value":null}]}`+"\n" {
		t.Fatalf("listCredentials: %d %s", a.status, a.raw)
	}
	a = f.do("owner", "POST", regen, `{"name":"password2"}`)
	ps, _ := a.body["passwords"].([]any)
	if a.status != 200 || a.get("username") != "myRegistry" || len(ps) != 2 || ps[0].(map[string]any)["value"] != nil ||
		ps[1].(map[string]any)["name"] != "password2" || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("regenerateCredential: %d %s %v", a.status, a.raw, a.header)
	}
	if value, _ := ps[1].(map[string]any)["value"].(string); len(value) < 32 || strings.Contains(f.do("owner", "POST", list, "").raw, value) {
		t.Fatalf("the new password %q, or shown again", value)
	}
	f.want(f.do("owner", "POST", regen, `{"name":"password3"}`), 400, "InvalidParameter")
	f.want(f.do("owner", "POST", regen, `{"name":`), 400, "InvalidRequestContent")
	f.want(f.do("reader", "POST", list, ""), 403, "AuthorizationFailed")
	f.want(f.do("owner", "GET", list, ""), 404, "NotFound")
	f.want(f.do("owner", "POST", registry+"/listUsages"+api, ""), 404, "NotFound")
}
