package arm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/sts"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// tokens stands in for the token service: verifying signatures is sts's
// job, tested there and end to end; here a token is a caller's name.
type tokens map[string]sts.Claims

func (t tokens) Verify(_ context.Context, token string, want sts.Resource) (sts.Claims, error) {
	c, ok := t[token]
	if !ok || want != sts.Management {
		return sts.Claims{}, sts.ErrInvalidToken
	}
	return c, nil
}

const (
	tenant = "tenant-a"
	sub    = "sub-a"
	api    = "?api-version=2022-04-01"
)

type fixture struct {
	t    *testing.T
	meta *sqlstore.DB
	h    *Handler
	toks tokens
}

// newFixture is the management API over real stores, with a tenant, its
// subscription, and principals named by their roles at the subscription:
// "owner", "contributor", "reader", "uaa", plus "nobody" with no role and
// "stranger" in another tenant. Each principal's token is its name.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	meta, _ := stores.New(t)
	ctx := context.Background()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(meta.CreateTenant(ctx, store.Tenant{ID: tenant, Domain: "a.example", CreatedAt: now}))
	must(meta.CreateTenant(ctx, store.Tenant{ID: "tenant-b", Domain: "b.example", CreatedAt: now}))
	must(meta.CreateSubscription(ctx, store.Subscription{ID: sub, TenantID: tenant, DisplayName: "A", CreatedAt: now}))
	must(meta.CreateSubscription(ctx, store.Subscription{ID: "sub-b", TenantID: "tenant-b", DisplayName: "B", CreatedAt: now}))
	f := &fixture{t: t, meta: meta, toks: tokens{}}
	for name, role := range map[string]string{"owner": authz.Owner, "contributor": authz.Contributor, "reader": authz.Reader, "uaa": authz.UserAccessAdministrator, "nobody": "", "stranger": authz.Owner} {
		tid, sid := tenant, sub
		if name == "stranger" {
			tid, sid = "tenant-b", "sub-b"
		}
		must(meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: name, TenantID: tid, AppID: "app-" + name, Type: store.PrincipalApplication, CreatedAt: now}))
		if role != "" {
			must(meta.CreateRoleAssignment(ctx, store.RoleAssignment{ID: ids.New(), Scope: "/subscriptions/" + sid, RoleDefinitionID: role,
				PrincipalID: name, PrincipalType: "ServicePrincipal", TenantID: tid, CreatedAt: now}))
		}
		f.toks[name] = sts.Claims{TenantID: tid, ObjectID: name}
	}
	cp := &controlplane.Service{Store: meta, Authz: &authz.Engine{Store: meta}, Clients: clientauth.NewChecker(meta), RegistrySuffix: "cr.test"}
	f.h = &Handler{Service: cp, Verifier: f.toks, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), RegistrySuffix: "cr.test"}
	return f
}

type answer struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (a answer) message() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// get reads a dotted path of the answer's JSON.
func (a answer) get(path string) any {
	var v any = a.body
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func (a answer) values() []map[string]any {
	vs, _ := a.body["value"].([]any)
	var out []map[string]any
	for _, v := range vs {
		out = append(out, v.(map[string]any))
	}
	return out
}

func (f *fixture) do(token, method, path, body string) answer {
	f.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	a := answer{status: w.Code, raw: w.Body.String(), header: w.Header()}
	json.Unmarshal(w.Body.Bytes(), &a.body)
	return a
}

func (f *fixture) want(a answer, status int, code string) {
	f.t.Helper()
	if a.status != status || a.code() != code {
		f.t.Fatalf("got %d %s, want %d %s: %s", a.status, a.code(), status, code, a.raw)
	}
}

const (
	group    = "/subscriptions/" + sub + "/resourceGroups/Team"
	registry = group + "/providers/Microsoft.ContainerRegistry/registries/myRegistry"
	identity = group + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/builder"
)

func assignmentBody(role, principal string) string {
	return fmt.Sprintf(`{"properties":{"roleDefinitionId":"/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s","principalId":%q}}`, sub, role, principal)
}

func TestAuthenticationAndAPIVersion(t *testing.T) {
	f := newFixture(t)
	a := f.do("", "GET", "/subscriptions"+api, "")
	f.want(a, 401, "AuthenticationFailed")
	if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer authorization_uri=") {
		t.Fatalf("401 without a Bearer challenge: %v", a.header)
	}
	f.want(f.do("forged", "GET", "/subscriptions"+api, ""), 401, "InvalidAuthenticationToken")
	f.want(f.do("owner", "GET", "/subscriptions", ""), 400, "MissingApiVersionParameter")
	f.want(f.do("owner", "GET", "/subscriptions/"+sub+"/nonsense"+api, ""), 404, "NotFound")
	f.want(f.do("owner", "PATCH", "/subscriptions"+api, ""), 405, "MethodNotAllowed")

	// The endpoints metadata is for clients that know nothing yet.
	e := f.do("", "GET", "/metadata/endpoints?api-version=2015-01-01", "")
	if e.status != 200 || e.get("authentication.loginEndpoint") != "http://example.com/" {
		t.Fatalf("endpoints: %d %s", e.status, e.raw)
	}
	e = f.do("", "GET", "/metadata/endpoints?api-version=2022-09-01", "")
	if e.status != 200 || !strings.Contains(e.raw, `"acrLoginServer":"cr.test"`) {
		t.Fatalf("endpoints, list form: %d %s", e.status, e.raw)
	}
}

func TestSubscriptions(t *testing.T) {
	f := newFixture(t)
	a := f.do("reader", "GET", "/subscriptions"+api, "")
	if vs := a.values(); a.status != 200 || len(vs) != 1 || vs[0]["subscriptionId"] != sub || vs[0]["tenantId"] != tenant || vs[0]["state"] != "Enabled" {
		t.Fatalf("subscriptions of a reader: %s", a.raw)
	}
	if vs := f.do("nobody", "GET", "/subscriptions"+api, "").values(); len(vs) != 0 {
		t.Fatalf("a principal with no role sees subscriptions: %v", vs)
	}
	f.want(f.do("nobody", "GET", "/subscriptions/"+sub+api, ""), 404, "SubscriptionNotFound")
	// Another tenant's subscription does not exist for this caller.
	f.want(f.do("stranger", "GET", "/subscriptions/"+sub+api, ""), 404, "SubscriptionNotFound")
	f.want(f.do("stranger", "PUT", group+api, `{"location":"here"}`), 404, "SubscriptionNotFound")
	if a := f.do("owner", "GET", "/SUBSCRIPTIONS/"+sub+api, ""); a.status != 200 || a.get("id") != "/subscriptions/"+sub {
		t.Fatalf("subscription: %s", a.raw)
	}
}

func TestResourceGroups(t *testing.T) {
	f := newFixture(t)
	a := f.do("owner", "PUT", group+api, `{"location":"westeurope","tags":{"team":"a"}}`)
	if a.status != 201 || a.get("id") != group || a.get("name") != "Team" || a.get("location") != "westeurope" || a.get("properties.provisioningState") != "Succeeded" {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	// PUT again is an update, in any case of the name and the location.
	if a := f.do("owner", "PUT", strings.ToLower(group)+api, `{"location":"West Europe","tags":{"team":"b"}}`); a.status != 200 || a.get("name") != "Team" || a.get("tags.team") != "b" {
		t.Fatalf("update: %d %s", a.status, a.raw)
	}
	f.want(f.do("owner", "PUT", group+api, `{"location":"eastus"}`), 409, "InvalidResourceGroupLocation")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/other"+api, `{}`), 400, "LocationRequired")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/bad.name."+api, `{"location":"x"}`), 400, "InvalidResourceGroup")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/g2"+api, `{"location":`), 400, "InvalidRequestContent")
	f.want(f.do("contributor", "PUT", "/subscriptions/"+sub+"/resourceGroups/g2"+api, `{"location":"x"}`), 201, "")
	f.want(f.do("reader", "PUT", "/subscriptions/"+sub+"/resourceGroups/g3"+api, `{"location":"x"}`), 403, "AuthorizationFailed")
	if a := f.do("reader", "GET", "/subscriptions/"+sub+"/resourcegroups/TEAM"+api, ""); a.status != 200 || a.get("id") != group {
		t.Fatalf("get in another case: %s", a.raw)
	}
	f.want(f.do("reader", "GET", "/subscriptions/"+sub+"/resourceGroups/none"+api, ""), 404, "ResourceGroupNotFound")
	if a := f.do("reader", "HEAD", group+api, ""); a.status != 204 {
		t.Fatalf("HEAD of a group: %d", a.status)
	}
	if a := f.do("reader", "HEAD", "/subscriptions/"+sub+"/resourceGroups/none"+api, ""); a.status != 404 {
		t.Fatalf("HEAD of no group: %d", a.status)
	}
	if vs := f.do("reader", "GET", "/subscriptions/"+sub+"/resourcegroups"+api, "").values(); len(vs) != 2 {
		t.Fatalf("groups: %v", vs)
	}
	if vs := f.do("nobody", "GET", "/subscriptions/"+sub+"/resourcegroups"+api, "").values(); len(vs) != 0 {
		t.Fatalf("groups listed to a principal with no role: %v", vs)
	}
	f.want(f.do("reader", "DELETE", group+api, ""), 403, "AuthorizationFailed")
}

func TestRegistriesAndIdentities(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/Other"+api, `{"location":"here"}`), 201, "")

	a := f.do("contributor", "PUT", registry+api, `{"location":"here","sku":{"name":"standard"},"properties":{"adminUserEnabled":true}}`)
	if a.status != 201 || a.get("id") != registry || a.get("type") != "Microsoft.ContainerRegistry/registries" ||
		a.get("properties.loginServer") != "myregistry.cr.test" || a.get("properties.adminUserEnabled") != true ||
		a.get("properties.anonymousPullEnabled") != false || a.get("properties.policies.azureADAuthenticationAsArmPolicy.status") != "enabled" ||
		a.get("sku.name") != "Standard" {
		t.Fatalf("create registry: %d %s", a.status, a.raw)
	}
	reg, err := f.meta.GetRegistry(ctx, "myregistry")
	if err != nil || reg.TenantID != tenant || reg.ResourceID != registry {
		t.Fatalf("the data plane's registry: %+v %v", reg, err)
	}
	// The resource's id is matched in any case and printed canonically.
	lower := strings.ToLower(registry)
	if a := f.do("reader", "GET", lower+api, ""); a.status != 200 || a.get("id") != registry || a.get("name") != "myRegistry" {
		t.Fatalf("get in lower case: %s", a.raw)
	}
	// PUT again: an update, whose omissions are defaults again.
	if a := f.do("owner", "PUT", lower+api, `{"properties":{"anonymousPullEnabled":true}}`); a.status != 200 ||
		a.get("properties.adminUserEnabled") != false || a.get("properties.anonymousPullEnabled") != true || a.get("location") != "here" {
		t.Fatalf("update registry: %d %s", a.status, a.raw)
	}
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/Other/providers/Microsoft.ContainerRegistry/registries/MYREGISTRY"+api, `{}`), 409, "AlreadyInUse")
	f.want(f.do("owner", "PUT", group+"/providers/Microsoft.ContainerRegistry/registries/ab"+api, `{}`), 400, "InvalidResourceName")
	f.want(f.do("owner", "PUT", group+"/providers/Microsoft.ContainerRegistry/registries/has-dash"+api, `{}`), 400, "InvalidResourceName")
	f.want(f.do("owner", "PUT", group+"/providers/Microsoft.ContainerRegistry/registries/okname1"+api, `{"sku":{"name":"Gold"}}`), 400, "InvalidSkuName")
	f.want(f.do("owner", "PUT", group+"/providers/Microsoft.Nope/things/x"+api, `{}`), 400, "InvalidResourceType")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/none/providers/Microsoft.ContainerRegistry/registries/okname1"+api, `{}`), 404, "ResourceGroupNotFound")
	f.want(f.do("reader", "PUT", group+"/providers/Microsoft.ContainerRegistry/registries/okname1"+api, `{}`), 403, "AuthorizationFailed")
	f.want(f.do("reader", "GET", group+"/providers/Microsoft.ContainerRegistry/registries/absent"+api, ""), 404, "ResourceNotFound")
	if _, err := f.meta.GetRegistry(ctx, "okname1"); err == nil {
		t.Fatal("a refused create left a registry behind")
	}

	a = f.do("owner", "PUT", identity+api, `{"location":"here"}`)
	principal, _ := a.get("properties.principalId").(string)
	if a.status != 201 || a.get("properties.tenantId") != tenant || principal == "" || a.get("properties.clientId") == "" {
		t.Fatalf("create identity: %d %s", a.status, a.raw)
	}
	sp, err := f.meta.GetServicePrincipal(ctx, principal)
	if err != nil || sp.Type != store.PrincipalManagedIdentity || sp.AppID != a.get("properties.clientId") || sp.TenantID != tenant {
		t.Fatalf("the identity's service principal: %+v %v", sp, err)
	}
	if b := f.do("owner", "PUT", identity+api, `{"location":"here","tags":{"a":"b"}}`); b.status != 200 || b.get("properties.principalId") != principal {
		t.Fatalf("PUT of an identity again changed its principal: %s", b.raw)
	}

	list := func(path string) []string {
		t.Helper()
		a := f.do("reader", "GET", path, "")
		if a.status != 200 {
			t.Fatalf("list %s: %s", path, a.raw)
		}
		var names []string
		for _, v := range a.values() {
			names = append(names, v["name"].(string))
		}
		return names
	}
	if got := fmt.Sprint(list("/subscriptions/" + sub + "/resources" + api + "&$filter=resourceType%20eq%20'Microsoft.ContainerRegistry/registries'")); got != "[myRegistry]" {
		t.Fatalf("registries by filter: %s", got)
	}
	if got := fmt.Sprint(list(group + "/resources" + api)); got != "[myRegistry builder]" {
		t.Fatalf("resources of the group: %s", got)
	}
	if got := fmt.Sprint(list("/subscriptions/" + sub + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities" + api)); got != "[builder]" {
		t.Fatalf("identities of the subscription: %s", got)
	}
	if got := fmt.Sprint(list(group + "/providers/microsoft.containerregistry/registries" + api)); got != "[myRegistry]" {
		t.Fatalf("registries of the group: %s", got)
	}
	f.want(f.do("reader", "GET", "/subscriptions/"+sub+"/resources"+api+"&$filter=location%20eq%20'x'", ""), 400, "InvalidFilterInQueryString")
	if vs := f.do("nobody", "GET", "/subscriptions/"+sub+"/resources"+api, "").values(); len(vs) != 0 {
		t.Fatalf("resources listed to a principal with no role: %v", vs)
	}

	// Deleting the registry deletes its content and its assignments.
	f.want(f.do("owner", "PUT", registry+"/providers/Microsoft.Authorization/roleAssignments/"+ids.New()+api, assignmentBody(authz.AcrPull, "nobody")), 201, "")
	f.want(f.do("reader", "DELETE", registry+api, ""), 403, "AuthorizationFailed")
	if a := f.do("contributor", "DELETE", registry+api, ""); a.status != 200 {
		t.Fatalf("delete registry: %d %s", a.status, a.raw)
	}
	if a := f.do("contributor", "DELETE", registry+api, ""); a.status != 204 {
		t.Fatalf("delete of a deleted registry: %d %s", a.status, a.raw)
	}
	if _, err := f.meta.GetRegistry(ctx, "myregistry"); err == nil {
		t.Fatal("the registry outlived its resource")
	}
	if as, _ := f.meta.RoleAssignmentsOfPrincipal(ctx, "nobody"); len(as) != 0 {
		t.Fatalf("assignments outlived the registry: %v", as)
	}
	// Its name is free again.
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/Other/providers/Microsoft.ContainerRegistry/registries/myregistry"+api, `{}`), 201, "")

	// Deleting the group deletes the identity's principal.
	if a := f.do("owner", "DELETE", group+api, ""); a.status != 200 {
		t.Fatalf("delete group: %d %s", a.status, a.raw)
	}
	if _, err := f.meta.GetServicePrincipal(ctx, principal); err == nil {
		t.Fatal("the identity's principal outlived its group")
	}
	f.want(f.do("owner", "GET", identity+api, ""), 404, "ResourceGroupNotFound")
	f.want(f.do("owner", "DELETE", group+api, ""), 404, "ResourceGroupNotFound")
}

func TestRoleDefinitions(t *testing.T) {
	f := newFixture(t)
	base := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions"
	a := f.do("nobody", "GET", base+api+"&$filter=roleName%20eq%20'acrpull'", "")
	vs := a.values()
	if a.status != 200 || len(vs) != 1 || vs[0]["name"] != authz.AcrPull || vs[0]["id"] != base+"/"+authz.AcrPull {
		t.Fatalf("AcrPull by name: %s", a.raw)
	}
	if p := vs[0]["properties"].(map[string]any); p["roleName"] != "AcrPull" || !strings.Contains(fmt.Sprint(p["permissions"]), authz.ActionRegistryPull) {
		t.Fatalf("AcrPull's properties: %v", p)
	}
	if vs := f.do("reader", "GET", base+api+"&$filter=roleName%20eq%20'nope'", "").values(); len(vs) != 0 {
		t.Fatalf("an unknown role name: %v", vs)
	}
	if vs := f.do("reader", "GET", base+api, "").values(); len(vs) != 10 {
		t.Fatalf("%d built-in roles, want 10", len(vs))
	}
	if a := f.do("reader", "GET", base+"/"+strings.ToUpper(authz.Contributor)+api, ""); a.status != 200 || a.get("properties.roleName") != "Contributor" {
		t.Fatalf("Contributor by id: %s", a.raw)
	}
	f.want(f.do("reader", "GET", base+"/"+ids.New()+api, ""), 404, "RoleDefinitionDoesNotExist")
	f.want(f.do("reader", "GET", base+api+"&$filter=type%20eq%20'x'", ""), 400, "InvalidFilter")
	f.want(f.do("stranger", "GET", base+api, ""), 404, "SubscriptionNotFound")
}

func TestRoleAssignments(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	f.want(f.do("owner", "PUT", registry+api, `{}`), 201, "")
	at := func(scope, name string) string {
		return scope + "/providers/Microsoft.Authorization/roleAssignments/" + name + api
	}
	name := ids.New()

	// Only Owner and User Access Administrator write assignments.
	f.want(f.do("reader", "PUT", at(registry, ids.New()), assignmentBody(authz.AcrPull, "nobody")), 403, "AuthorizationFailed")
	f.want(f.do("contributor", "PUT", at(registry, ids.New()), assignmentBody(authz.AcrPull, "nobody")), 403, "AuthorizationFailed")
	a := f.do("owner", "PUT", at(registry, name), assignmentBody(authz.AcrPull, "nobody"))
	if a.status != 201 || a.get("name") != name || a.get("properties.principalType") != "ServicePrincipal" ||
		a.get("properties.scope") != registry || a.get("properties.roleDefinitionId") != "/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleDefinitions/"+authz.AcrPull ||
		a.get("id") != registry+"/providers/Microsoft.Authorization/roleAssignments/"+name {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	f.want(f.do("uaa", "PUT", at(group, ids.New()), assignmentBody(authz.Reader, "nobody")), 201, "")

	// Bad input changes nothing.
	f.want(f.do("owner", "PUT", at(strings.ToLower(registry), ids.New()), assignmentBody(authz.AcrPull, "nobody")), 409, "RoleAssignmentExists")
	f.want(f.do("owner", "PUT", at(registry, name), assignmentBody(authz.AcrPush, "nobody")), 409, "RoleAssignmentExists")
	f.want(f.do("owner", "PUT", at(registry, ids.New()), assignmentBody(authz.AcrPull, ids.New())), 400, "PrincipalNotFound")
	f.want(f.do("owner", "PUT", at(registry, ids.New()), assignmentBody(authz.AcrPull, "stranger")), 400, "PrincipalNotFound")
	f.want(f.do("owner", "PUT", at(registry, ids.New()), assignmentBody(ids.New(), "nobody")), 400, "RoleDefinitionDoesNotExist")
	f.want(f.do("owner", "PUT", at(registry, "not-a-guid"), assignmentBody(authz.AcrPull, "nobody")), 400, "InvalidRoleAssignmentId")
	f.want(f.do("owner", "PUT", at(registry, ids.New()), `{"properties":{"roleDefinitionId":"/subscriptions/`+sub+`/providers/Microsoft.Authorization/roleDefinitions/`+authz.AcrPush+`","principalId":"nobody","principalType":"User"}}`), 400, "UnmatchedPrincipalType")
	f.want(f.do("owner", "PUT", at(group+"/providers/Microsoft.ContainerRegistry/registries/absent", ids.New()), assignmentBody(authz.AcrPull, "nobody")), 404, "ResourceNotFound")
	f.want(f.do("owner", "PUT", at("/subscriptions/"+sub+"/resourceGroups/none", ids.New()), assignmentBody(authz.AcrPull, "nobody")), 404, "ResourceGroupNotFound")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/g/providers/X/providers/Microsoft.Authorization/roleAssignments/"+ids.New()+api, assignmentBody(authz.AcrPull, "nobody")), 400, "InvalidResourceId")
	f.want(f.do("owner", "PUT", at(registry, ids.New()), `{"properties":`), 400, "InvalidRequestContent")

	// Listings: at the scope and above, or also below; by principal.
	names := func(a answer) string {
		t.Helper()
		if a.status != 200 {
			t.Fatalf("list: %s", a.raw)
		}
		var out []string
		for _, v := range a.values() {
			p := v["properties"].(map[string]any)
			if p["principalId"] == "nobody" {
				out = append(out, strings.TrimPrefix(p["roleDefinitionId"].(string), "/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleDefinitions/"))
			}
		}
		return fmt.Sprint(out)
	}
	list := registry + "/providers/Microsoft.Authorization/roleAssignments" + api
	if got := names(f.do("reader", "GET", list+"&$filter=atScope()", "")); got != fmt.Sprint([]string{authz.AcrPull, authz.Reader}) && got != fmt.Sprint([]string{authz.Reader, authz.AcrPull}) {
		t.Fatalf("atScope at the registry: %s", got)
	}
	subList := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleAssignments" + api
	if got := names(f.do("reader", "GET", subList+"&$filter=atScope()", "")); got != "[]" {
		t.Fatalf("atScope at the subscription: %s", got)
	}
	if got := names(f.do("reader", "GET", subList+"&$filter=principalId%20eq%20'nobody'", "")); !strings.Contains(got, authz.AcrPull) || !strings.Contains(got, authz.Reader) {
		t.Fatalf("by principal at the subscription: %s", got)
	}
	if n := len(f.do("reader", "GET", subList+"&$filter=assignedTo('owner')", "").values()); n != 1 {
		t.Fatalf("assignedTo(owner): %d", n)
	}
	f.want(f.do("reader", "GET", subList+"&$filter=roleName%20eq%20'x'", ""), 400, "InvalidFilter")
	f.want(f.do("nobody", "GET", subList, ""), 403, "AuthorizationFailed")

	// A removed assignment stops granting at once.
	if a := f.do("nobody", "GET", registry+api, ""); a.status != 200 {
		t.Fatalf("a Reader on the group reads the registry: %s", a.raw)
	}
	readerAt := f.do("reader", "GET", at(registry, name), "")
	if readerAt.status != 200 || readerAt.get("name") != name {
		t.Fatalf("get: %s", readerAt.raw)
	}
	f.want(f.do("reader", "GET", at(group, name), ""), 404, "RoleAssignmentNotFound")
	for _, v := range f.do("reader", "GET", list+"&$filter=principalId%20eq%20'nobody'", "").values() {
		if p := v["properties"].(map[string]any); p["scope"] == group {
			f.want(f.do("reader", "DELETE", at(group, v["name"].(string)), ""), 403, "AuthorizationFailed")
			if a := f.do("owner", "DELETE", at(group, v["name"].(string)), ""); a.status != 200 || a.get("name") != v["name"] {
				t.Fatalf("delete: %s", a.raw)
			}
			if a := f.do("owner", "DELETE", at(group, v["name"].(string)), ""); a.status != 204 {
				t.Fatalf("delete again: %d", a.status)
			}
		}
	}
	f.want(f.do("nobody", "GET", registry+api, ""), 403, "AuthorizationFailed")
}

// TestConcurrentRoleAssignmentCreates: of concurrent PUTs of one
// assignment name, exactly one creates it.
func TestConcurrentRoleAssignmentCreates(t *testing.T) {
	f := newFixture(t)
	name := ids.New()
	path := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleAssignments/" + name + api
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			role := []string{authz.AcrPull, authz.AcrPush}[i%2]
			statuses[i] = f.do("owner", "PUT", path, assignmentBody(role, "nobody")).status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
		default:
			t.Fatalf("statuses: %v", statuses)
		}
	}
	if created != 1 {
		t.Fatalf("%d creates won, want 1: %v", created, statuses)
	}
}

// TestConcurrentRegistryCreates: of concurrent creates of one registry
// name in different groups, exactly one wins; the others are told the
// name is in use and leave nothing behind.
func TestConcurrentRegistryCreates(t *testing.T) {
	f := newFixture(t)
	const n = 6
	for i := range n {
		f.want(f.do("owner", "PUT", fmt.Sprintf("/subscriptions/%s/resourceGroups/g%d%s", sub, i, api), `{"location":"here"}`), 201, "")
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = f.do("owner", "PUT", fmt.Sprintf("/subscriptions/%s/resourceGroups/g%d/providers/Microsoft.ContainerRegistry/registries/contested%s", sub, i, api), `{}`).status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		if s == 201 {
			created++
		} else if s != 409 {
			t.Fatalf("statuses: %v", statuses)
		}
	}
	rs := f.do("owner", "GET", "/subscriptions/"+sub+"/resources"+api, "").values()
	if created != 1 || len(rs) != 1 {
		t.Fatalf("%d creates won and %d resources exist, want 1 and 1: %v", created, len(rs), statuses)
	}
}
