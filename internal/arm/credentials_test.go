package arm

import (
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/secret"
)

// TestRegistryCredentials: the admin user's passwords are made by
// regenerateCredential, shown in that answer only, and kept as hashes;
// both actions need the admin user on and the registry's actions.
func TestRegistryCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	f.want(f.do("owner", "PUT", registry+api, `{}`), 201, "")
	list, regen := registry+"/listCredentials"+api, registry+"/regenerateCredential"+api

	a := f.do("owner", "POST", list, "")
	f.want(a, 400, "UnAuthorizedForCredentialOperations")
	f.want(f.do("owner", "POST", regen, `{"name":"password"}`), 400, "UnAuthorizedForCredentialOperations")

	// PATCH changes only what it states: the SKU and tags stay.
	f.want(f.do("owner", "PUT", registry+api, `{"sku":{"name":"Premium"},"tags":{"team":"a"}}`), 200, "")
	a = f.do("contributor", "PATCH", registry+api, `{"properties":{"adminUserEnabled":true}}`)
	if a.status != 200 || a.get("properties.adminUserEnabled") != true || a.get("sku.name") != "Premium" || a.get("tags.team") != "a" {
		t.Fatalf("PATCH adminUserEnabled: %d %s", a.status, a.raw)
	}
	f.want(f.do("reader", "PATCH", registry+api, `{"properties":{"adminUserEnabled":false}}`), 403, "AuthorizationFailed")
	f.want(f.do("owner", "PATCH", group+"/providers/Microsoft.ContainerRegistry/registries/absent"+api, `{}`), 404, "ResourceNotFound")

	a = f.do("contributor", "POST", strings.ToLower(list), "")
	if a.status != 200 || a.get("username") != "myRegistry" || a.raw != `{"username":"myRegistry","passwords":[{"name":"password","value":null},{"name":"password2","value":null}]}`+"\n" {
		t.Fatalf("listCredentials: %d %s", a.status, a.raw)
	}
	a = f.do("owner", "POST", regen, `{"name":"password2"}`)
	ps, _ := a.body["passwords"].([]any)
	if a.status != 200 || len(ps) != 2 || ps[0].(map[string]any)["value"] != nil {
		t.Fatalf("regenerateCredential: %d %s", a.status, a.raw)
	}
	value, _ := ps[1].(map[string]any)["value"].(string)
	stored, err := f.meta.ListRegistryPasswords(ctx, "myregistry")
	if err != nil || len(stored) != 1 || stored[0].Name != "password2" || !secret.Verify(value, stored[0].Salt, stored[0].Hash) {
		t.Fatalf("stored passwords %+v %v", stored, err)
	}
	if strings.Contains(string(stored[0].Hash), value) || strings.Contains(f.do("owner", "POST", list, "").raw, value) {
		t.Fatal("the password is kept or shown again")
	}
	a = f.do("owner", "POST", regen, `{"name":"password2"}`)
	stored, _ = f.meta.ListRegistryPasswords(ctx, "myregistry")
	if a.status != 200 || len(stored) != 1 || secret.Verify(value, stored[0].Salt, stored[0].Hash) {
		t.Fatalf("a renewed password still verifies: %s", a.raw)
	}

	f.want(f.do("owner", "POST", regen, `{"name":"password3"}`), 400, "InvalidParameter")
	f.want(f.do("owner", "GET", list, ""), 404, "NotFound")
	f.want(f.do("owner", "POST", registry+"/listUsages"+api, ""), 404, "NotFound")
	// Reader reads the registry but has no action on its credentials.
	f.want(f.do("reader", "POST", list, ""), 403, "AuthorizationFailed")
	f.want(f.do("reader", "POST", regen, `{"name":"password"}`), 403, "AuthorizationFailed")
	f.want(f.do("stranger", "POST", list, ""), 404, "SubscriptionNotFound")
	f.want(f.do("owner", "POST", group+"/providers/Microsoft.ContainerRegistry/registries/absent/listCredentials"+api, ""), 404, "ResourceNotFound")
	f.want(f.do("owner", "PUT", identity+api, `{"location":"here"}`), 201, "")
	f.want(f.do("owner", "POST", identity+"/listCredentials"+api, ""), 400, "InvalidResourceType")
}
