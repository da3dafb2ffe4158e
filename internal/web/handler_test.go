package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/testutil/stores"
)

const (
	pw       = "correct horse battery staple"
	redirect = "https://app.example/callback?keep=1"
)

// fixture: tenant A publishes a multi-tenant application and a
// single-tenant one; tenant B has a Global Administrator, an Application
// Administrator and a user without a directory role.
type fixture struct {
	t                  *testing.T
	meta               *sqlstore.DB
	h                  *Handler
	clock              *clock
	logs               *logBuffer
	a, b               store.Tenant
	multi, single      store.Application
	admin, appAdmin, u store.User
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	hashOnce sync.Once
	pwHash   string
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	meta, _ := stores.New(t)
	f := &fixture{t: t, meta: meta,
		a: store.Tenant{ID: "aaaaaaaa-0000-0000-0000-000000000001", Domain: "a.example", DisplayName: "Contoso A"},
		b: store.Tenant{ID: "bbbbbbbb-0000-0000-0000-000000000002", Domain: "b.example", DisplayName: "Fabrikam B"},
	}
	for _, tn := range []store.Tenant{f.a, f.b} {
		must(t, meta.CreateTenant(ctx, tn))
	}
	f.multi = store.Application{ObjectID: "mo", AppID: "11111111-1111-1111-1111-111111111111", TenantID: f.a.ID, DisplayName: "Puller",
		SignInAudience: graph.AudienceMultipleOrgs, WebRedirectURIs: []string{redirect, "https://other.example/cb"}}
	f.single = store.Application{ObjectID: "so", AppID: "22222222-2222-2222-2222-222222222222", TenantID: f.a.ID, DisplayName: "Internal",
		SignInAudience: graph.AudienceMyOrg, WebRedirectURIs: []string{redirect}}
	for _, app := range []store.Application{f.multi, f.single} {
		must(t, meta.CreateApplication(ctx, app))
	}
	hashOnce.Do(func() {
		var err error
		pwHash, err = password.Hash(pw)
		must(t, err)
	})
	mk := func(id, upn, role string) store.User {
		u := store.User{ObjectID: id, TenantID: f.b.ID, UserPrincipalName: upn, DisplayName: upn, PasswordHash: pwHash}
		must(t, meta.CreateUser(ctx, u))
		if role != "" {
			must(t, meta.AddDirectoryRole(ctx, f.b.ID, id, role))
		}
		return u
	}
	f.admin = mk("u-admin", "admin@b.example", store.RoleGlobalAdministrator)
	f.appAdmin = mk("u-appadmin", "apps@b.example", store.RoleApplicationAdministrator)
	f.u = mk("u-plain", "user@b.example", "")
	f.clock = &clock{t: time.Now()}
	f.logs = &logBuffer{}
	f.h = f.handler()
	return f
}

func (f *fixture) handler() *Handler {
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	h, err := New(context.Background(), f.meta, &audit.Trail{Store: f.meta, Log: log}, log)
	must(f.t, err)
	h.now = f.clock.now
	return h
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// browser keeps the session cookie between requests, as a browser does
// over HTTPS.
type browser struct {
	f      *fixture
	cookie string
}

type response struct {
	*http.Response
	body string
}

func (b *browser) do(method, target string, form url.Values) response {
	b.f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.cookie != "" {
		req.Header.Set("Cookie", cookieName+"="+b.cookie)
	}
	rec := httptest.NewRecorder()
	b.f.h.ServeHTTP(rec, req)
	resp := rec.Result()
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			b.cookie = c.Value
		}
	}
	return response{resp, rec.Body.String()}
}

func (b *browser) get(target string) response { return b.do(http.MethodGet, target, nil) }

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrf(t *testing.T, r response) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (%d):\n%s", r.StatusCode, r.body)
	}
	return html.UnescapeString(m[1])
}

// signIn opens target, signs in and follows the redirect to the consent
// page.
func (b *browser) signIn(target, upn, password string) response {
	b.f.t.Helper()
	page := b.get(target)
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `<h1>Sign in</h1>`) {
		b.f.t.Fatalf("GET %s: %d, not the sign-in page:\n%s", target, page.StatusCode, page.body)
	}
	r := b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(b.f.t, page)}, "step": {"signin"}, "username": {upn}, "password": {password}})
	if r.StatusCode != http.StatusSeeOther {
		return r
	}
	if loc := r.Header.Get("Location"); loc != target {
		b.f.t.Fatalf("after sign-in, redirected to %q, want %q", loc, target)
	}
	return b.get(target)
}

func (b *browser) decide(target string, consent response, decision string, orgBox bool) response {
	b.f.t.Helper()
	form := url.Values{"csrf_token": {csrf(b.f.t, consent)}, "step": {"consent"}, "decision": {decision}}
	if orgBox {
		form.Set("consent_org", "true")
	}
	return b.do(http.MethodPost, target, form)
}

func (f *fixture) hasSP(tenant, appID string) bool {
	f.t.Helper()
	_, err := f.meta.GetServicePrincipalByAppID(context.Background(), tenant, appID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		f.t.Fatal(err)
	}
	return err == nil
}

func location(t *testing.T, r response) *url.URL {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want a 303 redirect:\n%s", r.StatusCode, r.body)
	}
	u, err := url.Parse(r.Header.Get("Location"))
	must(t, err)
	return u
}

const state = "xyz 1/2&a=b+é"

// Each consent URL form, by tenant id and by domain: sign in as tenant
// B's administrator, tick the box, accept; the service principal exists
// in B, owned by A, and the browser goes to the registered URI with the
// form's parameters and state as given.
func TestConsentForms(t *testing.T) {
	for _, c := range []struct{ path, extra string }{
		{"/{t}/oauth2/authorize", "&response_type=code"},
		{"/{t}/oauth2/authorize", "&response_type=code&prompt=admin_consent"},
		{"/{t}/oauth2/v2.0/authorize", "&response_type=code&scope=openid"},
		{"/{t}/adminconsent", ""},
		{"/{t}/v2.0/adminconsent", "&scope=https://graph.microsoft.com/.default"},
	} {
		for _, tenantRef := range []string{"bbbbbbbb-0000-0000-0000-000000000002", "B.example", "common", "organizations"} {
			t.Run(strings.ReplaceAll(c.path, "{t}", tenantRef[:min(len(tenantRef), 8)])+c.extra[:min(len(c.extra), 40)], func(t *testing.T) {
				f := newFixture(t)
				target := strings.ReplaceAll(c.path, "{t}", tenantRef) + "?client_id=" + f.multi.AppID +
					"&redirect_uri=" + url.QueryEscape(redirect) + "&state=" + url.QueryEscape(state) + strings.ReplaceAll(c.extra, "https://graph.microsoft.com/.default", url.QueryEscape("https://graph.microsoft.com/.default"))
				b := &browser{f: f}
				consent := b.signIn(target, "Admin@B.example", pw)
				if consent.StatusCode != http.StatusOK || !strings.Contains(consent.body, "Consent on behalf of your organization") {
					t.Fatalf("consent page: %d\n%s", consent.StatusCode, consent.body)
				}
				for _, want := range []string{"Puller", "Contoso A (a.example)", "Sign in and access resources of Fabrikam B as Puller", f.multi.AppID} {
					if !strings.Contains(consent.body, html.EscapeString(want)) {
						t.Errorf("consent page lacks %q", want)
					}
				}
				if f.hasSP(f.b.ID, f.multi.AppID) {
					t.Fatal("a service principal before consent")
				}
				u := location(t, b.decide(target, consent, "accept", true))
				q := u.Query()
				if u.Scheme+"://"+u.Host+u.Path != "https://app.example/callback" || q.Get("keep") != "1" || q.Get("state") != state {
					t.Fatalf("redirected to %s", u)
				}
				if strings.Contains(c.path, "authorize") {
					if len(q.Get("code")) < 40 || q.Has("admin_consent") {
						t.Errorf("authorize form redirect %s", u)
					}
				} else if q.Get("admin_consent") != "True" || q.Get("tenant") != f.b.ID || q.Has("code") {
					t.Errorf("adminconsent form redirect %s", u)
				}
				sp, err := f.meta.GetServicePrincipalByAppID(context.Background(), f.b.ID, f.multi.AppID)
				if err != nil || sp.AppOwnerTenantID != f.a.ID || sp.Type != store.PrincipalApplication {
					t.Fatalf("service principal in B: %+v %v", sp, err)
				}
				// Consenting again is fine: the principal stays the one.
				again := b.get(target)
				u = location(t, b.decide(target, again, "accept", true))
				if u.Query().Get("state") != state || u.Query().Has("error") {
					t.Errorf("second consent: %s", u)
				}
				if sp2, _ := f.meta.GetServicePrincipalByAppID(context.Background(), f.b.ID, f.multi.AppID); sp2.ObjectID != sp.ObjectID {
					t.Errorf("a second consent replaced the service principal")
				}
			})
		}
	}
}

// Bad requests are refused with a page, before any sign-in, and never
// with a redirect.
func TestRefusedBeforeSignIn(t *testing.T) {
	f := newFixture(t)
	good := "&redirect_uri=" + url.QueryEscape(redirect) + "&response_type=code&state=s"
	for _, c := range []struct{ target, want string }{
		{"/nosuch.example/oauth2/authorize?client_id=" + f.multi.AppID + good, "Tenant not found"},
		{"/" + f.b.ID + "/oauth2/authorize?response_type=code&redirect_uri=" + url.QueryEscape(redirect), "Application not named"},
		{"/" + f.b.ID + "/adminconsent?client_id=33333333-3333-3333-3333-333333333333" + good, "Application not found"},
		{"/" + f.b.ID + "/oauth2/authorize?client_id=" + f.single.AppID + good, "Application not available in this organization"},
		{"/" + f.b.ID + "/oauth2/authorize?client_id=" + f.multi.AppID + "&response_type=code&redirect_uri=" + url.QueryEscape("https://evil.example/cb") + "&state=s", "Redirect URI not registered"},
		{"/" + f.b.ID + "/v2.0/adminconsent?client_id=" + f.multi.AppID + "&redirect_uri=" + url.QueryEscape(redirect+"&x=1") + "&state=s", "Redirect URI not registered"},
		{"/" + f.b.ID + "/adminconsent?client_id=" + f.multi.AppID + "&redirect_uri=" + url.QueryEscape("https://APP.example/callback?keep=1"), "Redirect URI not registered"},
	} {
		b := &browser{f: f}
		r := b.get(c.target)
		if r.StatusCode < 400 || r.Header.Get("Location") != "" || !strings.Contains(r.body, "<h1>"+c.want+"</h1>") ||
			strings.Contains(r.body, "<form") || b.cookie != "" {
			t.Errorf("GET %s: %d %q, want an error page %q:\n%s", c.target, r.StatusCode, r.Header.Get("Location"), c.want, r.body)
		}
	}
	// The single-tenant application is refused after a sign-in through
	// common, once the tenant is known; at home it is fine.
	b := &browser{f: f}
	target := "/common/adminconsent?client_id=" + f.single.AppID + "&redirect_uri=" + url.QueryEscape(redirect)
	if r := b.signIn(target, "admin@b.example", pw); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "for use in Contoso A only") {
		t.Errorf("single-tenant app through common: %d\n%s", r.StatusCode, r.body)
	}
	// No redirect_uri: the application's first.
	b = &browser{f: f}
	target = "/" + f.b.ID + "/adminconsent?client_id=" + f.multi.AppID + "&state=s"
	if u := location(t, b.decide(target, b.signIn(target, "admin@b.example", pw), "accept", true)); !strings.HasPrefix(u.String(), "https://app.example/callback?") {
		t.Errorf("without redirect_uri: %s", u)
	}
	// An unsupported response type goes back to the registered URI as
	// OAuth says, without a sign-in.
	r := (&browser{f: f}).get("/" + f.b.ID + "/oauth2/authorize?client_id=" + f.multi.AppID + "&response_type=token&state=s&redirect_uri=" + url.QueryEscape(redirect))
	if u := location(t, r); u.Query().Get("error") != "unsupported_response_type" || u.Query().Get("state") != "s" {
		t.Errorf("response_type=token: %s", u)
	}
}

// TestRedirectURIs: the browser goes only to a registered redirect URI,
// parsed rather than compared by prefix; an http loopback URI matches on
// any port, as native clients pick theirs when they start. URIs stored
// before registration checked them (look-alikes of loopback) are never
// used.
func TestRedirectURIs(t *testing.T) {
	f := newFixture(t)
	native := store.Application{ObjectID: "no", AppID: "44444444-4444-4444-4444-444444444444", TenantID: f.a.ID, DisplayName: "Native",
		SignInAudience: graph.AudienceMultipleOrgs, WebRedirectURIs: []string{
			"http://127.0.0.1/cb", "http://localhost:8400/native", "https://app.example:8443/cb",
			"http://localhost.evil.example/cb", "http://127.0.0.1.evil.example/cb", "http://localhost@evil.example/cb",
		}}
	must(t, f.meta.CreateApplication(context.Background(), native))
	target := func(redirectURI string) string {
		return "/" + f.b.ID + "/adminconsent?client_id=" + native.AppID + "&state=s&redirect_uri=" + url.QueryEscape(redirectURI)
	}
	for _, c := range []struct{ requested, goesTo string }{
		{"http://127.0.0.1/cb", "http://127.0.0.1/cb"},
		{"http://127.0.0.1:53124/cb", "http://127.0.0.1:53124/cb"},
		{"http://localhost/native", "http://localhost/native"},
		{"http://localhost:61000/native", "http://localhost:61000/native"},
		{"https://app.example:8443/cb", "https://app.example:8443/cb"},
	} {
		b := &browser{f: f}
		u := location(t, b.decide(target(c.requested), b.signIn(target(c.requested), "admin@b.example", pw), "accept", true))
		if got := u.Scheme + "://" + u.Host + u.Path; got != c.goesTo || u.Query().Get("admin_consent") != "True" {
			t.Errorf("%s: redirected to %s, want %s", c.requested, u, c.goesTo)
		}
	}
	for _, requested := range []string{
		"http://localhost.evil.example/cb", "http://localhost.evil.example:8080/cb", "http://127.0.0.1.evil.example/cb",
		"http://localhost@evil.example/cb", "http://localhost:80@evil.example/cb", "http://evil.example@127.0.0.1/cb",
		"http://127.0.0.1:53124/other", "http://127.0.0.1/cb?x=1", "http://127.0.0.1/cb#x", "http://localhost/cb",
		"http://[::1]/cb", "https://127.0.0.1/cb", "https://app.example/cb", "https://app.example:9443/cb",
		"http://app.example:8443/cb", "http://127.0.0.1:notaport/cb",
	} {
		b := &browser{f: f}
		r := b.get(target(requested))
		if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.body, "<h1>Redirect URI not registered</h1>") || strings.Contains(r.body, "<form") {
			t.Errorf("%s: %d %q, want the error page", requested, r.StatusCode, r.Header.Get("Location"))
		}
	}
	// With no redirect_uri, the first registered URI stands in, if it
	// is one that may be used.
	bad := store.Application{ObjectID: "bo", AppID: "55555555-5555-5555-5555-555555555555", TenantID: f.a.ID, DisplayName: "Old",
		SignInAudience: graph.AudienceMultipleOrgs, WebRedirectURIs: []string{"http://localhost.evil.example/cb"}}
	must(t, f.meta.CreateApplication(context.Background(), bad))
	r := (&browser{f: f}).get("/" + f.b.ID + "/adminconsent?client_id=" + bad.AppID + "&state=s")
	if r.StatusCode != http.StatusBadRequest || strings.Contains(r.body, "<form") {
		t.Errorf("a stored look-alike as the default: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func consentTarget(f *fixture) string {
	return "/" + f.b.ID + "/oauth2/authorize?client_id=" + f.multi.AppID + "&response_type=code&redirect_uri=" + url.QueryEscape(redirect) + "&state=" + url.QueryEscape(state)
}

// A user without an administrator role gets a page saying so, and a
// consent form posted anyway changes nothing; an Application
// Administrator may consent.
func TestOnlyAdministratorsConsent(t *testing.T) {
	f := newFixture(t)
	target := consentTarget(f)
	b := &browser{f: f}
	r := b.signIn(target, "user@b.example", pw)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "You need an administrator") || strings.Contains(r.body, "consent_org") {
		t.Fatalf("a plain user's consent page: %d\n%s", r.StatusCode, r.body)
	}
	// The page has no form, so the token is made as the server would.
	forged := b.do(http.MethodPost, target, url.Values{"csrf_token": {f.h.csrfToken(sessionOf(t, f, b))}, "step": {"consent"}, "decision": {"accept"}, "consent_org": {"true"}})
	if forged.StatusCode != http.StatusForbidden || !strings.Contains(forged.body, "You need an administrator") {
		t.Fatalf("a plain user's consent POST: %d\n%s", forged.StatusCode, forged.body)
	}
	if f.hasSP(f.b.ID, f.multi.AppID) {
		t.Fatal("a user without a role consented")
	}
	b = &browser{f: f}
	if u := location(t, b.decide(target, b.signIn(target, "apps@b.example", pw), "accept", true)); !u.Query().Has("code") || !f.hasSP(f.b.ID, f.multi.AppID) {
		t.Fatalf("Application Administrator's consent: %s", u)
	}
}

func sessionOf(t *testing.T, f *fixture, b *browser) session {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", cookieName+"="+b.cookie)
	s, ok := f.h.readSession(req, f.clock.now())
	if !ok {
		t.Fatal("no valid session")
	}
	return s
}

// Every form needs its session's CSRF token: without it, with a wrong
// one or with another session's, the POST is refused and changes
// nothing.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	target := consentTarget(f)
	other := &browser{f: f}
	otherToken := csrf(t, other.get(target))
	b := &browser{f: f}
	page := b.get(target)
	for _, token := range []string{"", "wrong", otherToken} {
		form := url.Values{"step": {"signin"}, "username": {"admin@b.example"}, "password": {pw}}
		if token != "" {
			form.Set("csrf_token", token)
		}
		before := b.cookie
		if r := b.do(http.MethodPost, target, form); r.StatusCode != http.StatusForbidden || b.cookie != before {
			t.Errorf("sign-in with token %q: %d (session changed: %v)", token, r.StatusCode, b.cookie != before)
		}
	}
	// Without any session cookie at all.
	if r := (&browser{f: f}).do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, page)}, "step": {"signin"}, "username": {"admin@b.example"}, "password": {pw}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without a session: %d", r.StatusCode)
	}
	consent := b.signIn(target, "admin@b.example", pw)
	// The token of the session before sign-in no longer works after it.
	for _, token := range []string{"", "wrong", otherToken, csrf(t, page)} {
		form := url.Values{"step": {"consent"}, "decision": {"accept"}, "consent_org": {"true"}}
		if token != "" {
			form.Set("csrf_token", token)
		}
		r := b.do(http.MethodPost, target, form)
		if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "The form could not be verified") {
			t.Errorf("consent with token %q: %d", token, r.StatusCode)
		}
	}
	if f.hasSP(f.b.ID, f.multi.AppID) {
		t.Fatal("a consent without its CSRF token made a service principal")
	}
	if u := location(t, b.decide(target, consent, "accept", true)); !u.Query().Has("code") {
		t.Fatalf("with its token: %s", u)
	}
}

// Wrong passwords and unknown users get the same answer; after five,
// attempts wait, doubling, even with the right password.
func TestWrongPassword(t *testing.T) {
	f := newFixture(t)
	target := consentTarget(f)
	b := &browser{f: f}
	for _, c := range []struct{ upn, pw string }{{"admin@b.example", "wrong password"}, {"nobody@b.example", pw}, {"admin@a.example", pw}} {
		page := b.get(target)
		r := b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, page)}, "step": {"signin"}, "username": {c.upn}, "password": {c.pw}})
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "The user principal name or password is incorrect") ||
			!strings.Contains(r.body, `role="alert"`) || !strings.Contains(r.body, `value="`+c.upn+`"`) || strings.Contains(r.body, c.pw) {
			t.Errorf("%s: %d\n%s", c.upn, r.StatusCode, r.body)
		}
	}
	if r := b.get(target); !strings.Contains(r.body, "<h1>Sign in</h1>") {
		t.Fatal("a failed sign-in signed in")
	}
	page := b.get(target)
	post := func(password string) response {
		return b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, page)}, "step": {"signin"}, "username": {"admin@b.example"}, "password": {password}})
	}
	for range 4 {
		post("wrong password")
	}
	r := post(pw)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("the right password right after five wrong ones: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	f.clock.add(1100 * time.Millisecond)
	post("wrong password")
	if r := post(pw); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("after a sixth wrong one: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	f.clock.add(2100 * time.Millisecond)
	if r := post(pw); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right password once the wait is over: %d\n%s", r.StatusCode, r.body)
	}
	// Other users were never slowed down.
	c := &browser{f: f}
	if r := c.signIn(target, "apps@b.example", pw); r.StatusCode != http.StatusOK {
		t.Fatalf("another user: %d", r.StatusCode)
	}
	// Empty fields are named in the error summary, linked to their field.
	r = b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, b.get(target))}, "step": {"signin"}})
	if !strings.Contains(r.body, `href="#username"`) || !strings.Contains(r.body, `href="#password"`) {
		t.Errorf("empty form: %d\n%s", r.StatusCode, r.body)
	}
	// A password typed as the user name is not logged either.
	r = b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, b.get(target))}, "step": {"signin"}, "username": {"Hunter2-typed-here"}, "password": {"x"}})
	logs := f.logs.String()
	if !strings.Contains(logs, "sign-in failed") {
		t.Fatalf("failed sign-ins are not logged:\n%s", logs)
	}
	for _, secret := range []string{pw, "wrong password", "Hunter2", b.cookie, c.cookie, csrf(t, b.get(target)), "argon2"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
}

// Cancel, or Accept without the organization box, denies: the browser
// goes to the registered URI with access_denied and the state, and no
// service principal is made.
func TestDenied(t *testing.T) {
	f := newFixture(t)
	target := "/" + f.b.ID + "/v2.0/adminconsent?client_id=" + f.multi.AppID + "&redirect_uri=" + url.QueryEscape(redirect) + "&state=" + url.QueryEscape(state)
	b := &browser{f: f}
	consent := b.signIn(target, "admin@b.example", pw)
	for _, c := range []struct {
		decision string
		box      bool
	}{{"cancel", true}, {"cancel", false}, {"accept", false}} {
		u := location(t, b.decide(target, consent, c.decision, c.box))
		q := u.Query()
		if u.Host != "app.example" || q.Get("error") != "access_denied" || q.Get("error_description") == "" || q.Get("state") != state || q.Has("admin_consent") {
			t.Errorf("%+v: %s", c, u)
		}
	}
	if f.hasSP(f.b.ID, f.multi.AppID) {
		t.Fatal("a denied consent made a service principal")
	}
}

// Sessions: the cookie's attributes; the session outlives a restart (a
// new handler on the same store); it expires; a tampered one is ignored;
// a session of another tenant means signing in again.
func TestSession(t *testing.T) {
	f := newFixture(t)
	target := consentTarget(f)
	b := &browser{f: f}
	page := b.get(target)
	var cookie *http.Cookie
	for _, c := range page.Cookies() {
		if c.Name == cookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" ||
		cookie.Domain != "" || cookie.MaxAge != 900 {
		t.Fatalf("cookie %+v", cookie)
	}
	b.signIn(target, "admin@b.example", pw)
	f.h = f.handler()
	if r := b.get(target); !strings.Contains(r.body, "consent_org") {
		t.Fatalf("after a restart: %d\n%s", r.StatusCode, r.body)
	}
	good := b.cookie
	b.cookie = strings.Replace(good, ".", "x.", 1)
	if r := b.get(target); !strings.Contains(r.body, "<h1>Sign in</h1>") {
		t.Fatal("a tampered cookie was accepted")
	}
	b.cookie = good
	other := "/" + f.a.ID + "/adminconsent?client_id=" + f.multi.AppID + "&redirect_uri=" + url.QueryEscape(redirect)
	if r := b.get(other); !strings.Contains(r.body, "<h1>Sign in</h1>") {
		t.Fatal("tenant B's session was used in tenant A")
	}
	b.cookie = good
	f.clock.add(sessionLifetime + time.Second)
	if r := b.get(target); !strings.Contains(r.body, "<h1>Sign in</h1>") {
		t.Fatal("an expired session was accepted")
	}
}

// Every page, error pages and redirects included, carries the security
// headers; the inline stylesheet is the one the policy's hash allows;
// pages are labelled for assistive technology.
func TestPages(t *testing.T) {
	f := newFixture(t)
	target := consentTarget(f)
	b := &browser{f: f}
	signin := b.get(target)
	consent := b.signIn(target, "admin@b.example", pw)
	errPage := b.get("/nosuch/adminconsent?client_id=x")
	redirected := b.decide(target, consent, "cancel", false)
	styleRE := regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	for name, r := range map[string]response{"sign-in": signin, "consent": consent, "error": errPage, "redirect": redirected} {
		h := r.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s page headers: %v", name, h)
		}
		if name == "redirect" {
			continue
		}
		m := styleRE.FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("%s page has no stylesheet", name)
		}
		sum := sha256.Sum256([]byte(m[1]))
		if !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Errorf("%s page: the stylesheet's hash is not the policy's", name)
		}
		if !strings.Contains(r.body, `<html lang="en">`) || !strings.Contains(r.body, "<title>") || strings.Count(r.body, "<h1>") != 1 ||
			strings.Contains(r.body, "<script") {
			t.Errorf("%s page structure:\n%s", name, r.body)
		}
	}
	for _, want := range []string{`<label for="username">`, `id="username"`, `<label for="password">`, `autocomplete="current-password"`} {
		if !strings.Contains(signin.body, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	if !strings.Contains(consent.body, `<label for="consent_org">`) || !strings.Contains(consent.Header.Get("Content-Security-Policy"), "form-action 'self' https://app.example") {
		t.Errorf("consent page: %v\n%s", consent.Header, consent.body)
	}
	if r := b.do(http.MethodPut, target, nil); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", r.StatusCode)
	}
}

func TestMatch(t *testing.T) {
	for p, want := range map[string]bool{
		"/t/oauth2/authorize": true, "/t/oauth2/v2.0/authorize": true, "/t/adminconsent": true, "/common/v2.0/adminconsent": true,
		"/t/oauth2/token": false, "/t/oauth2/authorize/x": false, "//adminconsent": false, "/adminconsent": false,
	} {
		if Match(p) != want {
			t.Errorf("Match(%q) = %v", p, !want)
		}
	}
}
