package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestConsentInBrowser is step 2 of scenario S3
// (testdata/scenarios/s3_cross_tenant_cluster.txtar) in a real browser:
// headless Chromium opens tenant B's authorize URL for tenant A's
// multi-tenant application, tenant B's administrator signs in with the
// keyboard, ticks "consent on behalf of your organization" and accepts;
// then the service principal is in tenant B (read through the directory
// API), the callback got a code and the state, and the application's
// credentials, which got 700016 from tenant B before, get a token there.
// Refused: an unregistered redirect URI (before any sign-in), a user who
// is not an administrator, and a consent form posted without its CSRF
// token. With BERTH_SCREENSHOTS=DIR the sign-in and consent pages are
// saved there as PNG.
func TestConsentInBrowser(t *testing.T) {
	chromium := findChromium(t)
	s := berthtest.Start(t)
	callbacks := make(chan url.Values, 8)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		callbacks <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!DOCTYPE html><html lang="en"><title>callback</title><p id="done">recorded</p></html>`))
	}))
	defer cb.Close()
	redirect := cb.URL + "/callback"

	adminA, adminB := newCLI(t, t.TempDir()), newCLI(t, t.TempDir())
	adminA.run("login", "--data-dir", s.DataDir, "-o", "none")
	appID := adminA.run("ad", "app", "create", "--display-name", "cluster-puller", "--sign-in-audience", "AzureADMultipleOrgs",
		"--web-redirect-uris", redirect, "--query", "appId", "-o", "tsv")
	secret := adminA.run("ad", "app", "credential", "reset", "--id", appID, "--query", "password", "-o", "tsv")

	out, err := operator(t, s, "tenant", "create", "--display-name", "Fabrikam", "--domain", "fabrikam.example")
	if err != nil {
		t.Fatalf("berth tenant create: %v\n%s", err, out)
	}
	var b struct{ TenantID, ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	adminB.run("login", "--service-principal", "-u", b.ClientID, "-p", b.ClientSecret, "--tenant", b.TenantID, "--data-dir", s.DataDir, "-o", "none")
	const password = "Correct-Horse-Battery-9"
	adminB.run("ad", "user", "create", "--display-name", "Fabrikam Admin", "--user-principal-name", "admin@fabrikam.example",
		"--password", password, "--role", "Global Administrator", "-o", "none")
	adminB.run("ad", "user", "create", "--display-name", "Fabrikam User", "--user-principal-name", "user@fabrikam.example",
		"--password", password, "-o", "none")

	tokenInB := func() (int, map[string]any) {
		return tokenError(t, s, "/"+b.TenantID+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {secret},
			"scope": {"https://management.azure.com/.default"},
		})
	}
	if status, body := tokenInB(); status != 400 || !hasCode(body, 700016) {
		t.Fatalf("the application in tenant B before consent: %d %v", status, body)
	}
	noSP := func(when string) {
		t.Helper()
		if out, err := adminB.try("ad", "sp", "show", "--id", appID); err == nil {
			t.Fatalf("%s: a service principal exists in tenant B:\n%s", when, out)
		}
	}

	const state = "s3 step2/é&x=1"
	authorize := s.URL + "/" + b.TenantID + "/oauth2/authorize?" + url.Values{
		"client_id": {appID}, "response_type": {"code"}, "redirect_uri": {redirect}, "state": {state},
	}.Encode()
	browser := newBrowser(t, chromium, s)
	h1 := func(ctx context.Context) string {
		t.Helper()
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
		if err != nil {
			t.Fatal(err)
		}
		return text
	}
	do := func(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	// load runs steps that end in a page load and returns its status.
	load := func(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) int64 {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, steps...)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	signIn := func(ctx context.Context, upn string) int64 {
		t.Helper()
		if status := load(ctx, chromedp.Navigate(authorize)); status != 200 {
			t.Fatalf("the sign-in page: %d", status)
		}
		return load(ctx, chromedp.SendKeys(chromedp.ID("username"), upn), chromedp.SendKeys(chromedp.ID("password"), password+kb.Enter))
	}

	// An unregistered redirect URI: an error page, no sign-in form, no
	// redirect.
	ctx := browser()
	evil := strings.Replace(authorize, url.QueryEscape(redirect), url.QueryEscape(cb.URL+"/elsewhere"), 1)
	if status, got := load(ctx, chromedp.Navigate(evil)), h1(ctx); status != 400 || got != "Redirect URI not registered" {
		t.Fatalf("unregistered redirect_uri: %d page %q", status, got)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("form, input[type=password]").length`)); err != nil || n != 0 {
		t.Fatalf("the error page has a form: %d %v", n, err)
	}

	// A user without an administrator role.
	ctx = browser()
	if status, got := signIn(ctx, "user@fabrikam.example"), h1(ctx); status != 403 || got != "You need an administrator" {
		t.Fatalf("a plain user after sign-in: %d page %q", status, got)
	}
	noSP("after a plain user's sign-in")

	// The consent form posted without its CSRF token: the field is
	// removed from the page through the DevTools protocol (the page's
	// policy allows no script of its own).
	ctx = browser()
	if status, got := signIn(ctx, "admin@fabrikam.example"), h1(ctx); status != 200 || got != "Permissions requested" {
		t.Fatalf("the administrator after sign-in: %d page %q", status, got)
	}
	do(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector("input[name=csrf_token]").remove()`),
		chromedp.Click(chromedp.ID("consent_org")))
	if status, got := load(ctx, chromedp.Click(chromedp.CSS(`button[value=accept]`))), h1(ctx); status != 403 || got != "The form could not be verified" {
		t.Fatalf("consent without a CSRF token: %d page %q", status, got)
	}
	noSP("after a consent without its CSRF token")

	// S3 step 2, with the keyboard only: the user name field has the
	// focus, Tab moves to the password, Enter signs in; on the consent
	// page Tab reaches the box, Space ticks it, Tab reaches Accept.
	ctx = browser()
	load(ctx, chromedp.Navigate(authorize))
	screenshot(t, ctx, "consent-signin.png")
	// Chromium applies autofocus at a rendering step after the load: a
	// key typed before it is lost (the form got "dmin@...", a 401, in
	// about one run in three). A person, too, types once the cursor is in
	// the field.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.activeElement.id === "username"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the user name field did not get the focus: %v", err)
	}
	do(ctx, chromedp.KeyEvent("admin@fabrikam.example"), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(password))
	if status := load(ctx, chromedp.KeyEvent(kb.Enter)); status != 200 {
		t.Fatalf("sign-in with the keyboard: %d", status)
	}
	screenshot(t, ctx, "consent-page.png")
	do(ctx, chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(" "))
	if checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("consent_org").checked`)); err != nil || !checked {
		t.Fatalf("Tab and Space did not tick the box: %v %v", checked, err)
	}
	do(ctx, chromedp.KeyEvent(kb.Tab))
	if focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.value`)); err != nil || focused != "accept" {
		t.Fatalf("after the box, Tab reached %q, not Accept (%v)", focused, err)
	}
	load(ctx, chromedp.KeyEvent(kb.Enter))
	var got url.Values
	select {
	case got = <-callbacks:
	case <-time.After(10 * time.Second):
		t.Fatal("the callback was not called")
	}
	if len(got.Get("code")) < 40 || got.Get("state") != state || got.Has("error") {
		t.Fatalf("callback parameters: %v", got)
	}
	if len(callbacks) != 0 {
		t.Fatalf("more callbacks than the consent: %v", <-callbacks)
	}
	if owner := adminB.run("ad", "sp", "show", "--id", appID, "--query", "appOwnerOrganizationId", "-o", "tsv"); owner != s.Boot.TenantID {
		t.Fatalf("the service principal in tenant B names home tenant %q, want tenant A %s", owner, s.Boot.TenantID)
	}
	if status, body := tokenInB(); status != 200 || body["access_token"] == nil {
		t.Fatalf("the application in tenant B after consent: %d %v", status, body)
	}
}

// TestAdminConsentCLI: the non-browser path to the same grant. Tenant
// B's administrator consents to tenant A's application with
// `berth ad app permission admin-consent`, twice (the second finds the
// service principal there); the application then gets tokens in B.
func TestAdminConsentCLI(t *testing.T) {
	s := berthtest.Start(t)
	adminA, adminB := newCLI(t, t.TempDir()), newCLI(t, t.TempDir())
	adminA.run("login", "--data-dir", s.DataDir, "-o", "none")
	appID := adminA.run("ad", "app", "create", "--display-name", "automation", "--sign-in-audience", "AzureADMultipleOrgs", "--query", "appId", "-o", "tsv")
	secret := adminA.run("ad", "app", "credential", "reset", "--id", appID, "--query", "password", "-o", "tsv")
	single := adminA.run("ad", "app", "create", "--display-name", "internal", "--query", "appId", "-o", "tsv")
	out, err := operator(t, s, "tenant", "create", "--domain", "b.example")
	if err != nil {
		t.Fatalf("berth tenant create: %v\n%s", err, out)
	}
	var b struct{ TenantID, ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	adminB.run("login", "--service-principal", "-u", b.ClientID, "-p", b.ClientSecret, "--tenant", b.TenantID, "--data-dir", s.DataDir, "-o", "none")
	token := func() (int, map[string]any) {
		return tokenError(t, s, "/b.example/oauth2/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {secret},
			"resource": {"https://management.azure.com/"},
		})
	}
	if status, body := token(); status != 400 || !hasCode(body, 700016) {
		t.Fatalf("before consent: %d %v", status, body)
	}
	for range 2 {
		if out, err := adminB.try("ad", "app", "permission", "admin-consent", "--id", appID); err != nil || out != "" {
			t.Fatalf("admin-consent: %v, printed %q", err, out)
		}
	}
	if owner := adminB.run("ad", "sp", "show", "--id", appID, "--query", "appOwnerOrganizationId", "-o", "tsv"); owner != s.Boot.TenantID {
		t.Fatalf("service principal's home tenant %q", owner)
	}
	if status, body := token(); status != 200 || body["access_token"] == nil {
		t.Fatalf("after consent: %d %v", status, body)
	}
	// A single-tenant application cannot be consented to elsewhere.
	if out, err := adminB.try("ad", "app", "permission", "admin-consent", "--id", single); err == nil || !strings.Contains(out, "does not reference a valid application") {
		t.Fatalf("admin-consent to a single-tenant application: %v %s", err, out)
	}
}

func hasCode(body map[string]any, code int) bool {
	codes, _ := body["error_codes"].([]any)
	return len(codes) == 1 && codes[0] == float64(code)
}

// screenshot saves the tab as DIR/name when BERTH_SCREENSHOTS=DIR.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("BERTH_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
