package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
)

func TestSubscriptionsAndGroups(t *testing.T) {
	f := newFixture(t)
	admin := f.browser()
	admin.signIn("admin@contoso.example")
	wantPage(t, admin.get("/portal/"), http.StatusOK, `href="/portal/subscriptions/`+f.sub+`"`)
	wantPage(t, admin.get("/portal/subscriptions/"+f.sub), http.StatusOK, "Contoso subscription", "Resource groups",
		`href="/portal/subscriptions/`+f.sub+`/resourcegroups/rg"`)
	wantPage(t, admin.get("/portal/subscriptions/"+f.sub+"/resourcegroups/rg"), http.StatusOK, "Container registry",
		`href="/portal/registries/images/settings"`, "Access control (IAM)")

	plain := f.browser()
	plain.signIn("user@contoso.example")
	// A subscription without a role assignment there is not found, as
	// the management API answers.
	wantPage(t, plain.get("/portal/subscriptions/"+f.sub), http.StatusNotFound, "does not exist in Contoso")
	wantPage(t, plain.get("/portal/subscriptions/"+f.sub+"/resourcegroups/rg"), http.StatusNotFound, "does not exist in Contoso")
}

func TestCreateRegistryAndSettings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.browser()
	admin.signIn("admin@contoso.example")
	wantPage(t, admin.get("/portal/registries"), http.StatusOK, `href="/portal/registries/new"`)
	wantPage(t, admin.get("/portal/registries/new"), http.StatusOK, `<option value="`+f.sub+`/rg"`)
	group := f.sub + "/rg"

	bad := admin.post("/portal/registries/new", url.Values{"name": {"no-dashes"}, "group": {group}})
	wantPage(t, bad, http.StatusBadRequest, "alphanumeric", `value="no-dashes"`)
	wantPage(t, admin.post("/portal/registries/new", url.Values{"name": {"newreg1"}}), http.StatusBadRequest, "Choose a resource group")
	wantPage(t, admin.post("/portal/registries/new", url.Values{"name": {"newreg1"}, "group": {f.sub + "/nogroup"}}), http.StatusBadRequest, "nogroup")

	made := admin.post("/portal/registries/new", url.Values{"name": {"newreg1"}, "group": {group}})
	if made.status != http.StatusSeeOther || made.header.Get("Location") != "/portal/registries/newreg1/settings" {
		t.Fatalf("create: %d %q\n%s", made.status, made.header.Get("Location"), made.body)
	}
	id := resourceid.Resource(f.sub, "rg", resourcetype.Registry, "newreg1")
	props := func() resourcetype.RegistryProperties {
		t.Helper()
		res, err := f.cp.GetResource(ctx, controlplane.Caller{TenantID: f.tenant.ID, ObjectID: "u-admin"}, id)
		must(t, err)
		var p resourcetype.RegistryProperties
		must(t, json.Unmarshal(res.Properties, &p))
		return p
	}
	if p := props(); p.AdminUserEnabled || p.AnonymousPullEnabled {
		t.Fatalf("a new registry's settings: %+v", p)
	}
	wantPage(t, admin.post("/portal/registries/new", url.Values{"name": {"newreg1"}, "group": {group}}), http.StatusConflict, "already")

	settings := admin.get("/portal/registries/newreg1/settings")
	wantPage(t, settings, http.StatusOK, "newreg1.cr.test", "docker login newreg1.cr.test", "docker pull newreg1.cr.test/&lt;repository&gt;:&lt;tag&gt;",
		`id="admin_user" name="admin_user" aria-describedby="admin-hint">`)
	saved := admin.post("/portal/registries/newreg1/settings", url.Values{"admin_user": {"on"}, "anonymous_pull": {"on"}})
	if saved.status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", saved.status, saved.body)
	}
	if p := props(); !p.AdminUserEnabled || !p.AnonymousPullEnabled {
		t.Fatalf("after turning both on: %+v", p)
	}
	wantPage(t, admin.get(saved.header.Get("Location")), http.StatusOK, "Settings saved", `name="admin_user" aria-describedby="admin-hint" checked>`)
	admin.post("/portal/registries/newreg1/settings", url.Values{"anonymous_pull": {"on"}})
	if p := props(); p.AdminUserEnabled || !p.AnonymousPullEnabled {
		t.Fatalf("after turning the admin user off: %+v", p)
	}
	forged := admin.do(http.MethodPost, "/portal/registries/newreg1/settings", url.Values{"admin_user": {"on"}, "csrf_token": {"forged"}})
	if forged.status == http.StatusSeeOther {
		t.Fatalf("a forged form was accepted")
	}
	if p := props(); p.AdminUserEnabled {
		t.Fatalf("a forged form changed the settings: %+v", p)
	}

	plain := f.browser()
	plain.signIn("user@contoso.example")
	wantPage(t, plain.get("/portal/registries/new"), http.StatusOK, "You may read no resource group")
	wantPage(t, plain.post("/portal/registries/new", url.Values{"name": {"plainreg1"}, "group": {group}}), http.StatusForbidden,
		"Creating a registry in resource group rg needs", "Contributor or Owner")
	wantPage(t, plain.get("/portal/registries/newreg1/settings"), http.StatusForbidden, "Not allowed")
	wantPage(t, plain.post("/portal/registries/newreg1/settings", url.Values{"admin_user": {"on"}}), http.StatusForbidden, "Not allowed")
	if p := props(); p.AdminUserEnabled {
		t.Fatalf("a refused change was made: %+v", p)
	}
}
