package portal

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/blob/fsblob"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/registryauth"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/testutil/stores"
	"github.com/berthhq/berth/internal/web"
)

const pw = "correct horse battery staple"

var (
	hashOnce sync.Once
	pwHash   string
)

// fixture: a tenant with a subscription and a registry in it; an
// administrator (Global Administrator, Owner of the subscription), a user
// with neither, and a service principal to assign roles to. The portal is
// served over TLS, as browsers only send its __Host- cookie there.
type fixture struct {
	t        *testing.T
	meta     *sqlstore.DB
	blobs    *fsblob.Store
	srv      *httptest.Server
	tenant   store.Tenant
	sub      string
	registry resourceid.ID
	sp       store.ServicePrincipal
	cp       *controlplane.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	meta, blobs := stores.New(t)
	f := &fixture{t: t, meta: meta, blobs: blobs, sub: ids.New(),
		tenant: store.Tenant{ID: ids.New(), Domain: "contoso.example", DisplayName: "Contoso"}}
	must(t, meta.CreateTenant(ctx, f.tenant))
	must(t, meta.CreateSubscription(ctx, store.Subscription{ID: f.sub, TenantID: f.tenant.ID, DisplayName: "Contoso subscription"}))
	hashOnce.Do(func() {
		var err error
		pwHash, err = password.Hash(pw)
		must(t, err)
	})
	for _, u := range []store.User{
		{ObjectID: "u-admin", TenantID: f.tenant.ID, UserPrincipalName: "admin@contoso.example", DisplayName: "Ada Admin", PasswordHash: pwHash},
		{ObjectID: "u-plain", TenantID: f.tenant.ID, UserPrincipalName: "user@contoso.example", DisplayName: "Uma User", PasswordHash: pwHash},
	} {
		must(t, meta.CreateUser(ctx, u))
	}
	must(t, meta.AddDirectoryRole(ctx, f.tenant.ID, "u-admin", store.RoleGlobalAdministrator))
	must(t, controlplane.EnsureOwner(ctx, meta, f.tenant.ID, f.sub, "u-admin", controlplane.PrincipalTypeUser))
	f.sp = store.ServicePrincipal{ObjectID: ids.New(), TenantID: f.tenant.ID, AppID: ids.New(), AppOwnerTenantID: f.tenant.ID,
		Type: store.PrincipalApplication, DisplayName: "puller"}
	must(t, meta.CreateServicePrincipal(ctx, f.sp))

	log := slog.New(slog.DiscardHandler)
	trail := &audit.Trail{Store: meta, Log: log}
	cp := &controlplane.Service{Store: meta, Authz: &authz.Engine{Store: meta}, Clients: clientauth.NewChecker(meta), RegistrySuffix: "cr.test", Audit: trail}
	f.cp = cp
	reg, err := cp.EnsureRegistry(ctx, store.Subscription{ID: f.sub, TenantID: f.tenant.ID}, "rg", "local", "images")
	must(t, err)
	f.registry, err = resourceid.Parse(reg.ID)
	must(t, err)
	pages, err := web.New(ctx, meta, trail, log)
	must(t, err)
	engine := &authz.Engine{Store: meta}
	h, err := New(pages, &graph.Service{Directory: meta, Audit: trail}, cp, registry.New(meta, blobs),
		&registryauth.Service{Store: meta, Authz: engine, Suffix: "cr.test"}, log)
	must(t, err)
	f.srv = httptest.NewTLSServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// browser keeps cookies and does not follow redirects, so that each
// answer can be looked at.
type browser struct {
	f *fixture
	c *http.Client
	// csrf is the token of the last page that had a form, and mark the
	// state mark of the last page whose form had one.
	csrf, mark string
}

type page struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *f.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{f: f, c: &c}
}

var (
	csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	markField = regexp.MustCompile(`name="mark" value="([^"]+)"`)
)

func (b *browser) do(method, path string, form url.Values) page {
	b.f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.f.srv.URL+path, body)
	must(b.f.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	must(b.f.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	must(b.f.t, err)
	p := page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if m := csrfField.FindStringSubmatch(p.body); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	if m := markField.FindStringSubmatch(p.body); m != nil {
		b.mark = html.UnescapeString(m[1])
	}
	return p
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

// post sends a form with the session's CSRF token, and the state mark
// of the page it was on, as a browser sends the hidden fields.
func (b *browser) post(path string, form url.Values) page {
	form.Set("csrf_token", b.csrf)
	if b.mark != "" && !form.Has("mark") {
		form.Set("mark", b.mark)
	}
	return b.do(http.MethodPost, path, form)
}

func (b *browser) signIn(upn string) {
	b.f.t.Helper()
	if p := b.get("/portal/"); p.status != http.StatusOK || !strings.Contains(p.body, "<h1>Sign in</h1>") {
		b.f.t.Fatalf("the portal before sign-in: %d\n%s", p.status, p.body)
	}
	p := b.post("/portal/", url.Values{"step": {"signin"}, "username": {upn}, "password": {pw}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/portal/" {
		b.f.t.Fatalf("signing in as %s: %d %q\n%s", upn, p.status, p.header.Get("Location"), p.body)
	}
}

func wantPage(t *testing.T, p page, status int, contains ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d:\n%s", p.status, status, p.body)
	}
	for _, c := range contains {
		if !strings.Contains(p.body, c) {
			t.Fatalf("the page lacks %q:\n%s", c, p.body)
		}
	}
}

func TestSignInHeadersAndSignOut(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.signIn("admin@contoso.example")
	home := b.get("/portal/")
	wantPage(t, home, http.StatusOK, "Welcome, Ada Admin", f.tenant.ID, "Contoso subscription")
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
		if got := home.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := home.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'sha256-") || strings.Contains(csp, "script") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if n, forms := strings.Count(home.body, `name="csrf_token"`), strings.Count(home.body, "<form"); n != forms || forms == 0 {
		t.Errorf("%d forms, %d CSRF tokens", forms, n)
	}
	wantPage(t, b.get("/portal/nowhere"), http.StatusNotFound, "Page not found")
	// A page's address with another method is the portal's 405 page,
	// with the methods the page takes.
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodGet, "/portal/signout", "POST"},
		{http.MethodPost, "/portal/registries", "GET, HEAD"},
		{http.MethodPut, "/portal/apps", "GET, HEAD, POST"},
	} {
		var form url.Values
		if c.method == http.MethodPost {
			form = url.Values{"csrf_token": {b.csrf}}
		}
		p := b.do(c.method, c.path, form)
		wantPage(t, p, http.StatusMethodNotAllowed, "<h1>Method not allowed</h1>", `class="portal"`)
		if p.header.Get("Allow") != c.allow || p.header.Get("Content-Security-Policy") == "" {
			t.Fatalf("%s %s: Allow %q, CSP %q", c.method, c.path, p.header.Get("Allow"), p.header.Get("Content-Security-Policy"))
		}
	}
	if p := b.post("/portal/signout", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", p.status)
	}
	wantPage(t, b.get("/portal/apps"), http.StatusOK, "<h1>Sign in</h1>")
	// Signed out, the page says so without the signed-in navigation.
	p := b.do(http.MethodDelete, "/portal/", nil)
	wantPage(t, p, http.StatusMethodNotAllowed, "<h1>Method not allowed</h1>")
	if strings.Contains(p.body, `<nav class="side"`) {
		t.Fatalf("the signed-out 405 page has the portal's navigation:\n%s", p.body)
	}
}

func TestRegistrationAndSecretShownOnce(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.signIn("admin@contoso.example")
	b.get("/portal/apps/new")
	wantPage(t, b.post("/portal/apps/new", url.Values{"name": {"cluster"}, "audience": {graph.AudienceMultipleOrgs}, "redirect_uri": {"javascript:alert(1)"}}),
		http.StatusBadRequest, "There is a problem", `href="#redirect_uri"`)
	p := b.post("/portal/apps/new", url.Values{"name": {"cluster"}, "audience": {graph.AudienceMultipleOrgs}, "redirect_uri": {"https://app.example/cb"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("Register: %d\n%s", p.status, p.body)
	}
	overview := p.header.Get("Location")
	apps, err := f.meta.ListApplications(t.Context(), f.tenant.ID)
	must(t, err)
	if len(apps) != 1 || overview != "/portal/apps/"+apps[0].ObjectID || apps[0].SignInAudience != graph.AudienceMultipleOrgs {
		t.Fatalf("registered %+v, sent to %s", apps, overview)
	}
	a := apps[0]
	wantPage(t, b.get(overview), http.StatusOK, `<code id="app-id">`+a.AppID+`</code>`, `<code id="tenant-id">`+f.tenant.ID+`</code>`, "https://app.example/cb")

	b.get(overview + "/secrets")
	wantPage(t, b.post(overview+"/secrets", url.Values{"description": {"ci"}, "expires": {"7"}}), http.StatusBadRequest, "Choose when the secret expires")
	shown := b.mark
	added := b.post(overview+"/secrets", url.Values{"description": {"ci"}, "expires": {"365"}})
	m := regexp.MustCompile(`id="new-secret-value" [^>]*value="([^"]+)"`).FindStringSubmatch(added.body)
	if added.status != http.StatusOK || m == nil {
		t.Fatalf("Add: %d\n%s", added.status, added.body)
	}
	value := m[1]
	// The answer reloaded sends the same form again: no second secret.
	wantPage(t, b.post(overview+"/secrets", url.Values{"description": {"ci"}, "expires": {"365"}, "mark": {shown}}),
		http.StatusConflict, "so none was added")
	pcs, err := f.meta.ListPasswordCredentials(t.Context(), a.ObjectID)
	must(t, err)
	if len(pcs) != 1 || !secret.Verify(value, pcs[0].Salt, pcs[0].Hash) || pcs[0].DisplayName != "ci" ||
		pcs[0].EndDateTime.Sub(pcs[0].StartDateTime) != 365*24*time.Hour {
		t.Fatalf("the secret shown is not the one kept: %+v", pcs)
	}
	again := b.get(overview + "/secrets")
	wantPage(t, again, http.StatusOK, value[:3]+"••••••••", pcs[0].KeyID)
	if strings.Contains(again.body, value) {
		t.Fatal("the secrets page shows the value a second time")
	}
	p = b.post(overview+"/secrets/"+pcs[0].KeyID+"/delete", url.Values{})
	if p.status != http.StatusSeeOther {
		t.Fatalf("Delete: %d\n%s", p.status, p.body)
	}
	if pcs, _ := f.meta.ListPasswordCredentials(t.Context(), a.ObjectID); len(pcs) != 0 {
		t.Fatalf("after Delete: %+v", pcs)
	}
}

func TestListPaginatedAndSearched(t *testing.T) {
	f := newFixture(t)
	for i := range 45 {
		must(t, f.meta.CreateApplication(t.Context(), store.Application{ObjectID: ids.New(), AppID: ids.New(), TenantID: f.tenant.ID,
			DisplayName: fmt.Sprintf("app-%02d", i), SignInAudience: graph.AudienceMyOrg}))
	}
	b := f.browser()
	b.signIn("user@contoso.example")
	rows := regexp.MustCompile(`<td data-label="Display name"><a href="/portal/apps/[^"]+">(app-\d\d)</a>`)
	for _, c := range []struct {
		query      string
		first      string
		n          int
		prev, next bool
	}{
		{"", "app-00", 20, false, true},
		{"?page=2", "app-20", 20, true, true},
		{"?page=3", "app-40", 5, true, false},
		{"?page=99", "app-40", 5, true, false},
		{"?search=APP-1", "app-10", 10, false, false},
	} {
		p := b.get("/portal/apps" + c.query)
		got := rows.FindAllStringSubmatch(p.body, -1)
		if p.status != http.StatusOK || len(got) != c.n || got[0][1] != c.first ||
			strings.Contains(p.body, `rel="prev"`) != c.prev || strings.Contains(p.body, `rel="next"`) != c.next {
			t.Errorf("/portal/apps%s: %d, %d rows from %v, prev %v next %v", c.query, p.status, len(got), got, strings.Contains(p.body, `rel="prev"`), strings.Contains(p.body, `rel="next"`))
		}
	}
}

func TestAccessControl(t *testing.T) {
	f := newFixture(t)
	iam := "/portal/iam?scope=" + url.QueryEscape(f.registry.String())
	b := f.browser()
	b.signIn("admin@contoso.example")
	wantPage(t, b.get(iam), http.StatusOK, "Ada Admin", "Contoso subscription</a> (inherited)", "Search for the member first")
	// The member picker searches on the server: one match is chosen.
	picked := b.get(iam + "&member_search=PULL")
	wantPage(t, picked, http.StatusOK, `id="member" value="`+f.sp.ObjectID+`" checked><label for="member">puller`)
	if strings.Contains(picked.body, `value="u-admin"`) {
		t.Fatalf("the search for pull offers the administrator:\n%s", picked.body)
	}
	wantPage(t, b.get(iam+"&member_search=contoso.example"), http.StatusOK, `value="u-admin"><label`, `value="u-plain"><label`)
	// A form sent back with an error keeps the member chosen.
	wantPage(t, b.post(iam, url.Values{"action": {"add"}, "member": {f.sp.ObjectID}}), http.StatusBadRequest, "Choose a role", `value="`+f.sp.ObjectID+`" checked>`)
	wantPage(t, b.post(iam, url.Values{"action": {"add"}, "role": {authz.AcrPull}, "member": {"no-such-principal"}}), http.StatusBadRequest, "does not exist in the directory")
	add := url.Values{"action": {"add"}, "role": {authz.AcrPull}, "member": {f.sp.ObjectID}}
	if p := b.post(iam, add); p.status != http.StatusSeeOther {
		t.Fatalf("Add: %d\n%s", p.status, p.body)
	}
	as, err := f.meta.RoleAssignmentsAt(t.Context(), []string{f.registry.String()})
	must(t, err)
	if len(as) != 1 || as[0].PrincipalID != f.sp.ObjectID || as[0].RoleDefinitionID != authz.AcrPull {
		t.Fatalf("assignments at the registry: %+v", as)
	}
	wantPage(t, b.post(iam, add), http.StatusConflict, "The member has this role here already")
	wantPage(t, b.get(iam), http.StatusOK, "<td data-label=\"Role\">AcrPull</td>", "This container registry", `name="assignment" value="`+as[0].ID+`"`)

	// A user without a role assignment is refused, and changes nothing.
	u := f.browser()
	u.signIn("user@contoso.example")
	wantPage(t, u.get(iam), http.StatusForbidden, "Not allowed", "reading role assignments")
	wantPage(t, u.get("/portal/registries"), http.StatusOK, "You have no role assignment in any subscription")
	u.get("/portal/apps/new")
	wantPage(t, u.post(iam, url.Values{"action": {"remove"}, "assignment": {as[0].ID}}), http.StatusForbidden, "Not allowed", "changing role assignments")
	wantPage(t, u.post("/portal/apps/new", url.Values{"name": {"x"}, "audience": {graph.AudienceMyOrg}}), http.StatusForbidden, "Application Administrator")
	// A form without the session's token, from the administrator.
	b.csrf = "forged"
	wantPage(t, b.post(iam, url.Values{"action": {"remove"}, "assignment": {as[0].ID}}), http.StatusForbidden, "The form could not be verified")
	if as, _ := f.meta.RoleAssignmentsAt(t.Context(), []string{f.registry.String()}); len(as) != 1 {
		t.Fatalf("a refused removal removed: %+v", as)
	}
	if apps, _ := f.meta.ListApplications(t.Context(), f.tenant.ID); len(apps) != 0 {
		t.Fatalf("a refused registration registered: %+v", apps)
	}

	b.get(iam)
	if p := b.post(iam, url.Values{"action": {"remove"}, "assignment": {as[0].ID}}); p.status != http.StatusSeeOther {
		t.Fatalf("Remove: %d\n%s", p.status, p.body)
	}
	if as, _ := f.meta.RoleAssignmentsAt(t.Context(), []string{f.registry.String()}); len(as) != 0 {
		t.Fatalf("after Remove: %+v", as)
	}
	wantPage(t, b.get("/portal/iam?scope=nonsense"), http.StatusBadRequest, "No such scope")
}

// TestEnterpriseApps: another tenant's application consented to is
// listed; a user without a role may not delete it; an administrator
// deletes it, withdrawing the consent with its role assignments.
func TestEnterpriseApps(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	home := store.Tenant{ID: ids.New(), Domain: "fabrikam.example"}
	must(t, f.meta.CreateTenant(ctx, home))
	consented := store.ServicePrincipal{ObjectID: ids.New(), TenantID: f.tenant.ID, AppID: ids.New(), AppOwnerTenantID: home.ID,
		Type: store.PrincipalApplication, DisplayName: "partner-puller"}
	must(t, f.meta.CreateServicePrincipal(ctx, consented))
	must(t, f.meta.CreateRoleAssignment(ctx, store.RoleAssignment{ID: ids.New(), Scope: f.registry.String(), RoleDefinitionID: authz.AcrPull,
		PrincipalID: consented.ObjectID, PrincipalType: controlplane.PrincipalTypeServicePrincipal, TenantID: f.tenant.ID}))

	u := f.browser()
	u.signIn("user@contoso.example")
	wantPage(t, u.get("/portal/enterprise-apps"), http.StatusOK, "partner-puller", "Application of another tenant", "<code>"+home.ID+"</code>", "puller")
	wantPage(t, u.post("/portal/enterprise-apps/"+consented.ObjectID+"/delete", url.Values{}), http.StatusForbidden, "Not allowed")
	if _, err := f.meta.GetServicePrincipal(ctx, consented.ObjectID); err != nil {
		t.Fatalf("a refused delete deleted: %v", err)
	}

	b := f.browser()
	b.signIn("admin@contoso.example")
	b.get("/portal/enterprise-apps")
	if p := b.post("/portal/enterprise-apps/"+consented.ObjectID+"/delete", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("Delete: %d\n%s", p.status, p.body)
	}
	if _, err := f.meta.GetServicePrincipal(ctx, consented.ObjectID); err == nil {
		t.Fatal("the service principal is still there")
	}
	if as, _ := f.meta.RoleAssignmentsAt(ctx, []string{f.registry.String()}); len(as) != 0 {
		t.Fatalf("its role assignments stayed: %+v", as)
	}
	if p := b.get("/portal/enterprise-apps"); strings.Contains(p.body, "partner-puller") {
		t.Fatalf("still listed:\n%s", p.body)
	}
}

// TestChangePassword: a user changes their password in the portal; a
// wrong current password, a mismatch and a short one change nothing; the
// new one signs in, the old one no longer does, and the user's other
// session ends.
func TestChangePassword(t *testing.T) {
	f := newFixture(t)
	other := f.browser()
	other.signIn("user@contoso.example")
	b := f.browser()
	b.signIn("user@contoso.example")
	b.get("/portal/account")
	const next = "a new passphrase for Uma"
	for _, c := range []struct {
		current, new, confirm, want string
	}{
		{"wrong", next, next, "The current password is incorrect"},
		{pw, next, next + "!", "Enter the same new password twice"},
		{pw, "short", "short", "at least 8 characters"},
		{pw, pw, pw, "other than your current one"},
	} {
		wantPage(t, b.post("/portal/account", url.Values{"current_password": {c.current}, "new_password": {c.new}, "confirm_password": {c.confirm}}),
			http.StatusBadRequest, c.want)
	}
	if u, _ := f.meta.GetUserByUPN(t.Context(), f.tenant.ID, "user@contoso.example"); u.PasswordHash != pwHash {
		t.Fatal("a refused change changed the password")
	}
	p := b.post("/portal/account", url.Values{"current_password": {pw}, "new_password": {next}, "confirm_password": {next}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("Change password: %d\n%s", p.status, p.body)
	}
	wantPage(t, b.get(p.header.Get("Location")), http.StatusOK, "Your password was changed")
	wantPage(t, other.get("/portal/"), http.StatusOK, "<h1>Sign in</h1>")

	fresh := f.browser()
	fresh.get("/portal/")
	if p := fresh.post("/portal/", url.Values{"step": {"signin"}, "username": {"user@contoso.example"}, "password": {pw}}); p.status != http.StatusUnauthorized {
		t.Fatalf("the old password: %d", p.status)
	}
	if p := fresh.post("/portal/", url.Values{"step": {"signin"}, "username": {"user@contoso.example"}, "password": {next}}); p.status != http.StatusSeeOther {
		t.Fatalf("the new password: %d\n%s", p.status, p.body)
	}
}

// push puts an image (a config blob and its manifest) in a repository of
// the fixture's registry, through the registry service, and tags it.
func (f *fixture) push(repoName, tag string) oci.Digest {
	f.t.Helper()
	ctx := f.t.Context()
	images := registry.New(f.meta, f.blobs)
	repo, err := images.Repository("images", repoName)
	must(f.t, err)
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := oci.FromBytes(oci.SHA256, config)
	id, err := images.StartUpload(ctx, repo)
	must(f.t, err)
	_, err = images.FinishUpload(ctx, repo, id, cd, bytes.NewReader(config))
	must(f.t, err)
	manifest := []byte(`{"schemaVersion":2,"mediaType":"` + oci.MediaTypeImageManifest + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		cd.String() + `","size":` + strconv.Itoa(len(config)) + `},"layers":[]}`)
	d, err := f.putManifest(repoName, tag, oci.MediaTypeImageManifest, manifest)
	must(f.t, err)
	return d
}

// putManifest puts a manifest in a repository of the fixture's registry
// under tag, or by its digest if tag is empty.
func (f *fixture) putManifest(repoName, tag, mediaType string, body []byte) (oci.Digest, error) {
	images := registry.New(f.meta, f.blobs)
	repo, err := images.Repository("images", repoName)
	if err != nil {
		return "", err
	}
	ref := oci.Reference{Tag: tag}
	if tag == "" {
		ref = oci.Reference{Digest: oci.FromBytes(oci.SHA256, body)}
	}
	res, err := images.PutManifest(f.t.Context(), repo, ref, mediaType, body)
	return res.Digest, err
}

// TestBrowseRegistry: the registry's Owner sees its repositories, a
// repository's tags and manifests and the command to pull; a user with
// no role assignment there is refused, and one with AcrPull is not; a
// registry that does not exist is not found.
func TestBrowseRegistry(t *testing.T) {
	f := newFixture(t)
	d := f.push("team/hello", "v1")
	b := f.browser()
	b.signIn("admin@contoso.example")
	wantPage(t, b.get("/portal/registries"), http.StatusOK, `<a href="/portal/registries/images">images</a>`)
	wantPage(t, b.get("/portal/registries/images"), http.StatusOK,
		`<a href="/portal/registries/images/repositories/team/hello">team/hello</a>`, `<td data-label="Tags">1</td>`)
	wantPage(t, b.get("/portal/registries/images/repositories/team/hello"), http.StatusOK,
		`<td data-label="Tag">v1</td>`, d.String(), "application/vnd.oci.image.manifest.v1&#43;json", `value="docker pull images.cr.test/team/hello:v1"`)
	wantPage(t, b.get("/portal/registries/images/repositories/team/nothing"), http.StatusNotFound, "has no repository called team/nothing")
	wantPage(t, b.get("/portal/registries/elsewhere"), http.StatusNotFound, "No registry called elsewhere")

	u := f.browser()
	u.signIn("user@contoso.example")
	wantPage(t, u.get("/portal/registries/images"), http.StatusForbidden, "Browsing registry images needs")
	wantPage(t, u.get("/portal/registries/images/repositories/team/hello"), http.StatusForbidden, "Not allowed")
	// AcrPull on the registry is enough to browse it.
	must(t, f.meta.CreateRoleAssignment(t.Context(), store.RoleAssignment{ID: ids.New(), Scope: f.registry.String(), RoleDefinitionID: authz.AcrPull,
		PrincipalID: "u-plain", PrincipalType: controlplane.PrincipalTypeUser, TenantID: f.tenant.ID}))
	wantPage(t, u.get("/portal/registries/images/repositories/team/hello"), http.StatusOK, `<td data-label="Tag">v1</td>`)
}
