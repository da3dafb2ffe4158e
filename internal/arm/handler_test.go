package arm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
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
	t    testing.TB
	meta *sqlstore.DB
	h    *Handler
	toks tokens
}

// newFixture is the management API over real stores, with a tenant, its
// subscription, and principals named by their roles at the subscription:
// "owner", "contributor", "reader", "uaa", plus "nobody" with no role and
// "stranger" in another tenant. Each principal's token is its name.
func newFixture(t testing.TB) *fixture {
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
	cp := &controlplane.Service{Store: meta, Authz: &authz.Engine{Store: meta}, Clients: clientauth.NewChecker(meta), RegistrySuffix: "cr.test",
		Audit: &audit.Trail{Store: meta, Log: slog.New(slog.DiscardHandler)}}
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
	if a := f.do("nobody", "GET", "/subscriptions"+api, ""); a.status != 200 || a.raw != `{"value":[]}`+"\n" {
		t.Fatalf("no subscriptions: %d %s", a.status, a.raw)
	}
	// Another tenant's subscription does not exist for this caller.
	f.want(f.do("stranger", "GET", "/subscriptions/"+sub+api, ""), 404, "SubscriptionNotFound")
	if a := f.do("owner", "GET", "/SUBSCRIPTIONS/"+sub+api, ""); a.status != 200 || a.get("id") != "/subscriptions/"+sub {
		t.Fatalf("subscription: %s", a.raw)
	}
}

func TestResourceGroups(t *testing.T) {
	f := newFixture(t)
	a := f.do("owner", "PUT", group+api, `{"location":"westeurope","tags":{"team":"a"}}`)
	if a.status != 201 || a.get("id") != group || a.get("name") != "Team" || a.get("type") != "Microsoft.Resources/resourceGroups" ||
		a.get("location") != "westeurope" || a.get("tags.team") != "a" || a.get("properties.provisioningState") != "Succeeded" {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	// PUT again is an update: 200, at a path in any case.
	if a := f.do("owner", "PUT", strings.ToLower(group)+api, `{"location":"West Europe","tags":{"team":"b"}}`); a.status != 200 || a.get("name") != "Team" || a.get("tags.team") != "b" {
		t.Fatalf("update: %d %s", a.status, a.raw)
	}
	f.want(f.do("owner", "PUT", group+api, `{"location":"eastus"}`), 409, "InvalidResourceGroupLocation")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/other"+api, `{}`), 400, "LocationRequired")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/g2"+api, `{"location":`), 400, "InvalidRequestContent")
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
	if vs := f.do("reader", "GET", "/subscriptions/"+sub+"/resourcegroups"+api, "").values(); len(vs) != 1 || vs[0]["id"] != group {
		t.Fatalf("groups: %v", vs)
	}
	if a := f.do("owner", "DELETE", group+api, ""); a.status != 200 || a.raw != "" {
		t.Fatalf("delete: %d %s", a.status, a.raw)
	}
	f.want(f.do("owner", "DELETE", group+api, ""), 404, "ResourceGroupNotFound")
}

// TestResources: a resource's JSON, its paths in any case, the listings'
// routes and $filter, and the answers to PUT, PATCH and DELETE.
func TestResources(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")

	a := f.do("contributor", "PUT", registry+api, `{"location":"here","sku":{"name":"standard"},"properties":{"adminUserEnabled":true}}`)
	if a.status != 201 || a.get("id") != registry || a.get("name") != "myRegistry" || a.get("type") != "Microsoft.ContainerRegistry/registries" ||
		a.get("location") != "here" || a.get("properties.loginServer") != "myregistry.cr.test" || a.get("properties.adminUserEnabled") != true ||
		a.get("properties.anonymousPullEnabled") != false || a.get("properties.policies.azureADAuthenticationAsArmPolicy.status") != "enabled" ||
		a.get("sku.name") != "Standard" || a.get("systemData.createdAt") == nil || a.body["tags"] == nil || a.body["identity"] != nil {
		t.Fatalf("create registry: %d %s", a.status, a.raw)
	}
	// The resource's id is matched in any case and printed canonically.
	lower := strings.ToLower(registry)
	if a := f.do("reader", "GET", lower+api, ""); a.status != 200 || a.get("id") != registry || a.get("name") != "myRegistry" {
		t.Fatalf("get in lower case: %s", a.raw)
	}
	if a := f.do("owner", "PUT", lower+api, `{"properties":{"anonymousPullEnabled":true}}`); a.status != 200 || a.get("properties.anonymousPullEnabled") != true {
		t.Fatalf("PUT again: %d %s", a.status, a.raw)
	}
	if a := f.do("owner", "PATCH", registry+api, `{"tags":{"team":"a"}}`); a.status != 200 || a.get("tags.team") != "a" {
		t.Fatalf("PATCH: %d %s", a.status, a.raw)
	}
	f.want(f.do("owner", "PATCH", registry+api, `{"tags":`), 400, "InvalidRequestContent")
	f.want(f.do("owner", "PUT", group+"/providers/Microsoft.ContainerRegistry/registries/ab"+api, `{}`), 400, "InvalidResourceName")
	f.want(f.do("owner", "PUT", group+"/providers/Microsoft.Nope/things/x"+api, `{}`), 400, "InvalidResourceType")
	f.want(f.do("reader", "GET", group+"/providers/Microsoft.ContainerRegistry/registries/absent"+api, ""), 404, "ResourceNotFound")
	f.want(f.do("owner", "PUT", registry+"/replications/x"+api, `{}`), 404, "NotFound")
	f.want(f.do("owner", "POST", registry+api, `{}`), 405, "MethodNotAllowed")

	a = f.do("owner", "PUT", identity+api, `{"location":"here"}`)
	if a.status != 201 || a.get("properties.tenantId") != tenant || a.get("properties.principalId") == "" || a.get("properties.clientId") == "" {
		t.Fatalf("create identity: %d %s", a.status, a.raw)
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
		sort.Strings(names)
		return names
	}
	if got := fmt.Sprint(list("/subscriptions/" + sub + "/resources" + api + "&$filter=resourceType%20eq%20'Microsoft.ContainerRegistry/registries'")); got != "[myRegistry]" {
		t.Fatalf("registries by filter: %s", got)
	}
	if got := fmt.Sprint(list("/subscriptions/" + sub + "/resources" + api + "&$filter=name%20eq%20'builder'%20and%20resourceType%20eq%20'Microsoft.ManagedIdentity/userAssignedIdentities'")); got != "[builder]" {
		t.Fatalf("by name and type: %s", got)
	}
	if got := fmt.Sprint(list(group + "/resources" + api)); got != "[builder myRegistry]" {
		t.Fatalf("resources of the group: %s", got)
	}
	if got := fmt.Sprint(list("/subscriptions/" + sub + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities" + api)); got != "[builder]" {
		t.Fatalf("identities of the subscription: %s", got)
	}
	if got := fmt.Sprint(list(group + "/providers/microsoft.containerregistry/registries" + api)); got != "[myRegistry]" {
		t.Fatalf("registries of the group: %s", got)
	}
	// What `az resource list` sends: the group, type, name, location and
	// tag filters; a tag filter stands alone.
	res := "/subscriptions/" + sub + "/resources" + api + "&$filter="
	for filter, want := range map[string]string{
		"resourceGroup%20eq%20'team'":                                    "[builder myRegistry]",
		"resourceGroup%20eq%20'Team'%20and%20location%20eq%20'HERE'":     "[builder myRegistry]",
		"resourceGroup%20eq%20'Team'%20and%20location%20eq%20'there'":    "[]",
		"substringof('REG',%20name)%20and%20resourceGroup%20eq%20'Team'": "[myRegistry]",
		"tagName%20eq%20'TEAM'":                                          "[myRegistry]",
		"tagName%20eq%20'team'%20and%20tagValue%20eq%20'a'":              "[myRegistry]",
		"tagName%20eq%20'team'%20and%20tagValue%20eq%20'b'":              "[]",
		"startswith(tagName,%20'te')":                                    "[myRegistry]",
		"startswith(tagName,%20'x')":                                     "[]",
		"resourceType%20eq%20'Microsoft.ContainerRegistry/registries'":   "[myRegistry]",
	} {
		if got := fmt.Sprint(list(res + filter)); got != want {
			t.Errorf("$filter=%s: %s, want %s", filter, got, want)
		}
	}
	for _, filter := range []string{"kind%20eq%20'x'", "tagName%20eq%20'team'%20and%20name%20eq%20'myRegistry'", "tagValue%20eq%20'a'",
		"tagName%20eq%20'a'%20and%20startswith(tagName,%20'a')", "substringof('a',%20location)", "startswith(name,%20'a')"} {
		f.want(f.do("reader", "GET", res+filter, ""), 400, "InvalidFilterInQueryString")
	}
	f.want(f.do("reader", "GET", group+"/resources"+api+"&$filter=resourceGroup%20eq%20'Team'", ""), 400, "InvalidFilterInQueryString")
	// A filter that matches no group lists nothing; a group in the path
	// must exist.
	if got := fmt.Sprint(list(res + "resourceGroup%20eq%20'none'")); got != "[]" {
		t.Fatalf("a filter naming no group: %s", got)
	}
	f.want(f.do("reader", "GET", "/subscriptions/"+sub+"/resourceGroups/none/resources"+api, ""), 404, "ResourceGroupNotFound")
	f.want(f.do("reader", "GET", "/subscriptions/"+sub+"/resources"+api+"&$filter=name%20eq", ""), 400, "InvalidFilterInQueryString")
	f.want(f.do("reader", "GET", "/subscriptions/"+sub+"/resources"+api+"&$filter=name%20ge%20'a'", ""), 400, "InvalidFilterInQueryString")
	f.want(f.do("reader", "GET", "/subscriptions/"+sub+"/resources"+api+"&$filter=name%20eq%202020", ""), 400, "InvalidFilterInQueryString")

	// DELETE: 200 when it deleted something, 204 when nothing was there.
	f.want(f.do("reader", "DELETE", registry+api, ""), 403, "AuthorizationFailed")
	if a := f.do("contributor", "DELETE", registry+api, ""); a.status != 200 || a.raw != "" {
		t.Fatalf("delete registry: %d %s", a.status, a.raw)
	}
	if a := f.do("contributor", "DELETE", registry+api, ""); a.status != 204 {
		t.Fatalf("delete of a deleted registry: %d %s", a.status, a.raw)
	}
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/Other/providers/Microsoft.ContainerRegistry/registries/myregistry"+api, `{}`), 404, "ResourceGroupNotFound")
}

func TestRoleDefinitions(t *testing.T) {
	f := newFixture(t)
	base := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions"
	a := f.do("nobody", "GET", base+api+"&$filter=roleName%20eq%20'acrpull'", "")
	vs := a.values()
	if a.status != 200 || len(vs) != 1 || vs[0]["name"] != authz.AcrPull || vs[0]["id"] != base+"/"+authz.AcrPull || vs[0]["type"] != "Microsoft.Authorization/roleDefinitions" {
		t.Fatalf("AcrPull by name: %s", a.raw)
	}
	if p := vs[0]["properties"].(map[string]any); p["roleName"] != "AcrPull" || p["type"] != "BuiltInRole" || !strings.Contains(fmt.Sprint(p["permissions"]), authz.ActionRegistryPull) {
		t.Fatalf("AcrPull's properties: %v", p)
	}
	if a := f.do("reader", "GET", base+api+"&$filter=roleName%20eq%20'nope'", ""); a.status != 200 || a.raw != `{"value":[]}`+"\n" {
		t.Fatalf("an unknown role name: %s", a.raw)
	}
	if vs := f.do("reader", "GET", base+api, "").values(); len(vs) != 10 {
		t.Fatalf("%d built-in roles, want 10", len(vs))
	}
	if a := f.do("reader", "GET", base+"/"+strings.ToUpper(authz.Contributor)+api, ""); a.status != 200 || a.get("properties.roleName") != "Contributor" {
		t.Fatalf("Contributor by id: %s", a.raw)
	}
	f.want(f.do("reader", "GET", base+"/"+ids.New()+api, ""), 404, "RoleDefinitionDoesNotExist")
	f.want(f.do("reader", "GET", base+api+"&$filter=type%20eq%20'x'", ""), 400, "InvalidFilter")
	f.want(f.do("reader", "PUT", base+"/"+authz.AcrPull+api, "{}"), 405, "MethodNotAllowed")
}

func TestRoleAssignments(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	f.want(f.do("owner", "PUT", registry+api, `{}`), 201, "")
	at := func(scope, name string) string {
		return scope + "/providers/Microsoft.Authorization/roleAssignments/" + name + api
	}
	name := ids.New()
	a := f.do("owner", "PUT", at(registry, name), assignmentBody(authz.AcrPull, "nobody"))
	if a.status != 201 || a.get("name") != name || a.get("type") != "Microsoft.Authorization/roleAssignments" ||
		a.get("properties.principalId") != "nobody" || a.get("properties.principalType") != "ServicePrincipal" ||
		a.get("properties.scope") != registry || a.get("properties.roleDefinitionId") != "/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleDefinitions/"+authz.AcrPull ||
		a.get("properties.createdBy") != "owner" || a.get("properties.createdOn") == nil ||
		a.get("id") != registry+"/providers/Microsoft.Authorization/roleAssignments/"+name {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	f.want(f.do("uaa", "PUT", at(group, ids.New()), assignmentBody(authz.Reader, "nobody")), 201, "")
	f.want(f.do("owner", "PUT", at(strings.ToLower(registry), ids.New()), assignmentBody(authz.AcrPull, "nobody")), 409, "RoleAssignmentExists")
	f.want(f.do("owner", "PUT", at(registry, ids.New()), assignmentBody(authz.AcrPull, ids.New())), 400, "PrincipalNotFound")
	f.want(f.do("contributor", "PUT", at(registry, ids.New()), assignmentBody(authz.AcrPull, "nobody")), 403, "AuthorizationFailed")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/g/providers/X/providers/Microsoft.Authorization/roleAssignments/"+ids.New()+api, assignmentBody(authz.AcrPull, "nobody")), 400, "InvalidResourceId")
	f.want(f.do("owner", "PUT", at(registry, ids.New()), `{"properties":`), 400, "InvalidRequestContent")
	f.want(f.do("owner", "PUT", at(registry, ids.New()), `{"properties":{"roleDefinitionId":"`+authz.AcrPush+`","principalId":"nobody","principalType":"User"}}`), 400, "UnmatchedPrincipalType")

	// Listings: each $filter form clients send.
	roles := func(a answer) string {
		t.Helper()
		if a.status != 200 {
			t.Fatalf("list: %s", a.raw)
		}
		var out []string
		for _, v := range a.values() {
			p := v["properties"].(map[string]any)
			out = append(out, p["principalId"].(string)+":"+strings.TrimPrefix(p["roleDefinitionId"].(string), "/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleDefinitions/"))
		}
		sort.Strings(out)
		return fmt.Sprint(out)
	}
	list := registry + "/providers/Microsoft.Authorization/roleAssignments" + api
	subList := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleAssignments" + api
	want := fmt.Sprint([]string{"nobody:" + authz.AcrPull, "nobody:" + authz.Reader})
	if got := roles(f.do("reader", "GET", list+"&$filter=atScope()%20and%20principalId%20eq%20'nobody'", "")); got != want {
		t.Fatalf("atScope() and principalId at the registry: %s", got)
	}
	if got := roles(f.do("reader", "GET", subList+"&$filter=principalId%20eq%20'nobody'", "")); got != want {
		t.Fatalf("principalId eq at the subscription: %s", got)
	}
	if got := roles(f.do("reader", "GET", subList+"&$filter=assignedTo('owner')", "")); got != "[owner:"+authz.Owner+"]" {
		t.Fatalf("assignedTo('owner'): %s", got)
	}
	if got := roles(f.do("reader", "GET", subList+"&$filter=atScope()%20and%20assignedTo('nobody')", "")); got != "[]" {
		t.Fatalf("atScope() at the subscription: %s", got)
	}
	f.want(f.do("reader", "GET", subList+"&$filter=roleName%20eq%20'x'", ""), 400, "InvalidFilter")
	f.want(f.do("reader", "POST", subList, ""), 405, "MethodNotAllowed")

	// GET and DELETE at the assignment's scope: 200 with the assignment,
	// then 204.
	if a := f.do("reader", "GET", at(strings.ToLower(registry), name), ""); a.status != 200 || a.get("name") != name || a.get("properties.scope") != registry {
		t.Fatalf("get: %s", a.raw)
	}
	f.want(f.do("reader", "GET", at(group, name), ""), 404, "RoleAssignmentNotFound")
	if a := f.do("owner", "DELETE", at(registry, name), ""); a.status != 200 || a.get("name") != name || a.get("properties.principalId") != "nobody" {
		t.Fatalf("delete: %d %s", a.status, a.raw)
	}
	if a := f.do("owner", "DELETE", at(registry, name), ""); a.status != 204 || a.raw != "" {
		t.Fatalf("delete again: %d %s", a.status, a.raw)
	}
}
