package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestPortalCrossTenant is scenario S3 with its browser steps in the
// portal, in headless Chromium. Step 1: in tenant A's portal, the
// bootstrap tenant's first user (its password from bootstrap.json) signs
// in, registers a multi-tenant application with the redirect URI, reads
// its application and directory ids on the Overview, and adds a client
// secret, whose value the page shows once. Step 2: tenant B's
// administrator consents, as today. Step 3: in tenant B's portal, the
// administrator (Owner of B's subscription) grants AcrPull on the
// registry to the consented application; then the application's id and
// secret pull from the registry, which refused them before. Refused: a
// user of B without a role assignment opens the registry's access control
// and registers an application, and sees why not; an access control form
// posted without its CSRF token changes nothing. With
// BERTH_SCREENSHOTS=DIR the pages are saved there as PNG, wide and narrow.
func TestPortalCrossTenant(t *testing.T) {
	chromium := findChromium(t)
	s := berthtest.Start(t)
	if s.Boot.AdminUser == "" || s.Boot.AdminPassword == "" {
		t.Fatalf("bootstrap.json names no first user: %+v", s.Boot)
	}
	_, port, _ := net.SplitHostPort(s.Host)
	registry := "s3registry.cr.localhost:" + port

	// Tenant B: its registry with an image, its administrator (Owner of
	// the subscription) and a user without any role assignment.
	out, err := operator(t, s, "tenant", "create", "--display-name", "Fabrikam", "--domain", "fabrikam.example")
	if err != nil {
		t.Fatalf("berth tenant create: %v\n%s", err, out)
	}
	var b struct{ TenantID, SubscriptionID, ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	adminB := newCLI(t, t.TempDir())
	adminB.run("login", "--service-principal", "-u", b.ClientID, "-p", b.ClientSecret, "--tenant", b.TenantID, "--data-dir", s.DataDir, "-o", "none")
	adminB.run("group", "create", "--name", "s3-registry", "--location", "westeurope", "-o", "none")
	registryID := adminB.run("acr", "create", "--name", "s3registry", "-g", "s3-registry", "--query", "id", "-o", "tsv")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 512)
	ref, err := name.ParseReference(registry + "/aci-helloworld:v1")
	if err != nil {
		t.Fatal(err)
	}
	registryAs := func(user, password string) []remote.Option {
		return []remote.Option{remote.WithContext(t.Context()), remote.WithTransport(loginServerTransport(s)),
			remote.WithAuth(&authn.Basic{Username: user, Password: password})}
	}
	if err := remote.Write(ref, img, registryAs(b.ClientID, b.ClientSecret)...); err != nil {
		t.Fatal(err)
	}
	const password = "Correct-Horse-Battery-9"
	adminB.run("ad", "user", "create", "--display-name", "Fabrikam Admin", "--user-principal-name", "admin@fabrikam.example",
		"--password", password, "--role", "Global Administrator", "-o", "none")
	adminB.run("role", "assignment", "create", "--assignee", "admin@fabrikam.example", "--role", "Owner",
		"--scope", "/subscriptions/"+b.SubscriptionID, "-o", "none")
	adminB.run("ad", "user", "create", "--display-name", "Fabrikam User", "--user-principal-name", "user@fabrikam.example",
		"--password", password, "-o", "none")

	browser := newBrowser(t, chromium, s)
	do := func(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	load := func(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) int64 {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, steps...)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return strings.TrimSpace(got)
	}
	html := func(ctx context.Context) string {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// signIn opens the portal, which asks for a sign-in, and signs in.
	signIn := func(ctx context.Context, upn, password string) {
		t.Helper()
		if status := load(ctx, chromedp.Navigate(s.URL+"/")); status != 200 || text(ctx, "h1") != "Sign in" {
			t.Fatalf("berth's address in a browser: %d, page %q", status, text(ctx, "h1"))
		}
		screenshot(t, ctx, "portal-signin.png")
		if status := load(ctx, chromedp.SendKeys(chromedp.ID("username"), upn), chromedp.SendKeys(chromedp.ID("password"), password), chromedp.Submit(chromedp.ID("password"))); status != 200 {
			t.Fatalf("signing in as %s: %d, page %q", upn, status, text(ctx, "h1"))
		}
		if got := text(ctx, "header .upn"); got != upn {
			t.Fatalf("signed in as %q, want %s", got, upn)
		}
	}
	// follow clicks a link or submits a form and wants the page loaded.
	follow := func(ctx context.Context, what string, want int64, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if status := load(ctx, steps...); status != want {
			t.Fatalf("%s: %d (want %d), page %q", what, status, want, text(ctx, "h1"))
		}
	}

	// 1. Tenant A's portal.
	ctx := browser()
	signIn(ctx, s.Boot.AdminUser, s.Boot.AdminPassword)
	shots(t, ctx, "portal-home")
	follow(ctx, "App registrations", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="App registrations"]`))
	follow(ctx, "+ New registration", 200, chromedp.Click(`//a[.="+ New registration"]`))
	// Registering without a name is refused on the form.
	follow(ctx, "Register without a name", 400, chromedp.Click(`//button[.="Register"]`))
	if got := text(ctx, ".error-summary a"); got != "Enter a name for the application" {
		t.Fatalf("the form's error: %q", got)
	}
	// The form with the keyboard only: the name has the focus, Tab
	// reaches the account types, an arrow picks the multi-tenant one, Tab
	// reaches the redirect URI, Enter registers.
	follow(ctx, "New registration again", 200, chromedp.Navigate(s.URL+"/portal/apps/new"))
	focused := func(id string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.activeElement.id === "`+id+`"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			active, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
			t.Fatalf("the focus is on %q, not %s: %v", active, id, err)
		}
	}
	focused("name")
	do(ctx, chromedp.KeyEvent("s3-cross-tenant"), chromedp.KeyEvent(kb.Tab))
	focused("audience-single")
	do(ctx, chromedp.KeyEvent(kb.ArrowDown))
	focused("audience-multi")
	do(ctx, chromedp.KeyEvent(kb.Tab))
	focused("redirect_uri")
	do(ctx, chromedp.KeyEvent("https://www.microsoft.com"))
	shots(t, ctx, "portal-new-registration")
	follow(ctx, "Register", 200, chromedp.KeyEvent(kb.Enter))
	appID, tenantID := text(ctx, "#app-id"), text(ctx, "#tenant-id")
	if tenantID != s.Boot.TenantID || len(appID) != 36 {
		t.Fatalf("Overview: application (client) id %q, directory (tenant) id %q (want %s)", appID, tenantID, s.Boot.TenantID)
	}
	shots(t, ctx, "portal-app-overview")
	follow(ctx, "Certificates & secrets", 200, chromedp.Click(`//nav[@class="tabs"]/a[.="Certificates & secrets"]`))
	do(ctx, chromedp.SendKeys(chromedp.ID("description"), "s3-cluster"), chromedp.SetValue(chromedp.ID("expires"), "365"))
	follow(ctx, "Add", 200, chromedp.Click(`//button[.="Add"]`))
	secret, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("new-secret-value")))
	if err != nil || len(secret) < 40 {
		t.Fatalf("the new secret's value: %q %v", secret, err)
	}
	shots(t, ctx, "portal-secret-added")
	// Shown once: the secrets page again lists it by its hint only.
	follow(ctx, "the secrets page again", 200, chromedp.Click(`//nav[@class="tabs"]/a[.="Certificates & secrets"]`))
	if page := html(ctx); strings.Contains(page, secret) || !strings.Contains(page, secret[:3]+"••••••••") || !strings.Contains(page, "s3-cluster") {
		t.Fatalf("the secrets page after the secret was added shows its value, or not its hint and description:\n%s", page)
	}
	shots(t, ctx, "portal-secrets")

	// Before consent, tenant B does not know the application.
	token := func() (int, map[string]any) {
		return tokenError(t, s, "/"+b.TenantID+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {secret},
			"scope": {"https://management.azure.com/.default"},
		})
	}
	if status, body := token(); status != 400 || !hasCode(body, 700016) {
		t.Fatalf("the application in tenant B before consent: %d %v", status, body)
	}

	// 2. Tenant B's administrator consents.
	ctx = browser()
	authorize := s.URL + "/" + b.TenantID + "/oauth2/authorize?" + url.Values{
		"client_id": {appID}, "response_type": {"code"}, "redirect_uri": {"https://www.microsoft.com"}, "state": {"s3"},
	}.Encode()
	if q, err := consentInBrowser(ctx, authorize, "admin@fabrikam.example", password); err != nil || q.Get("code") == "" {
		t.Fatalf("consent: %v %v", q, err)
	}
	if _, err := remote.Image(ref, registryAs(appID, secret)...); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("a pull before step 3: %v, want refused", err)
	}

	// Refused: a user of tenant B without any role assignment sees why.
	ctx = browser()
	signIn(ctx, "user@fabrikam.example", password)
	iam := s.URL + "/portal/iam?scope=" + url.QueryEscape(registryID)
	follow(ctx, "the registry's access control as a user without rights", 403, chromedp.Navigate(iam))
	if h1, why := text(ctx, "h1"), text(ctx, ".refusal"); h1 != "Not allowed" || !strings.Contains(why, "reading role assignments") {
		t.Fatalf("the refusal: %q %q", h1, why)
	}
	shots(t, ctx, "portal-refused")
	follow(ctx, "browsing the registry as a user without rights", 403, chromedp.Navigate(s.URL+"/portal/registries/s3registry"))
	follow(ctx, "New registration as a user without rights", 200, chromedp.Navigate(s.URL+"/portal/apps/new"))
	do(ctx, chromedp.SendKeys(chromedp.ID("name"), "not allowed"))
	follow(ctx, "Register as a user without rights", 403, chromedp.Click(`//button[.="Register"]`))
	if why := text(ctx, ".refusal"); !strings.Contains(why, "Application Administrator") {
		t.Fatalf("the refusal to register: %q", why)
	}
	if out := adminB.run("ad", "app", "list", "--query", "[].displayName", "-o", "tsv"); strings.Contains(out, "not allowed") {
		t.Fatalf("the refused registration exists: %s", out)
	}

	// 3. Tenant B's portal: AcrPull on the registry for the consented
	// application.
	spID := adminB.run("ad", "sp", "show", "--id", appID, "--query", "id", "-o", "tsv")
	ctx = browser()
	signIn(ctx, "admin@fabrikam.example", password)
	follow(ctx, "Enterprise applications", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="Enterprise applications"]`))
	if row, err := chromedp.Run(ctx, chromedp.Text(`//tr[td[2]="`+appID+`"]`)); err != nil || !strings.Contains(row, "s3-cross-tenant") || !strings.Contains(row, "Application of another tenant") || !strings.Contains(row, s.Boot.TenantID) {
		t.Fatalf("the consented application in tenant B's enterprise applications: %q %v", row, err)
	}
	shots(t, ctx, "portal-enterprise-apps")
	follow(ctx, "Container registries", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="Container registries"]`))
	shots(t, ctx, "portal-registries")
	// The registry's repositories, and the image's tag and manifest.
	follow(ctx, "the registry", 200, chromedp.Click(`//tr/td[1]/a[.="s3registry"]`))
	follow(ctx, "the repository", 200, chromedp.Click(`//a[.="aci-helloworld"]`))
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got := text(ctx, `td[data-label="Tag"]`); got != "v1" || !strings.Contains(html(ctx), digest.String()) {
		t.Fatalf("the repository page: tag %q, digest %s missing", got, digest)
	}
	if pull, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("pull"))); err != nil || pull != "docker pull "+strings.TrimSuffix(registry, ":"+port)+"/aci-helloworld:v1" {
		t.Fatalf("the pull command: %q %v", pull, err)
	}
	shots(t, ctx, "portal-repository")
	follow(ctx, "Container registries again", 200, chromedp.Navigate(s.URL+"/portal/registries"))
	follow(ctx, "the registry's access control", 200, chromedp.Click(`//tr[td[1]="s3registry"]//a[starts-with(., "Access control")]`))
	acrPull := `7f951dda-4ed3-4680-a7ca-43fe172d538d`
	// The member picker: a search on the server finds the application by
	// its id, the one match chosen.
	pick := func() {
		t.Helper()
		follow(ctx, "Search for the member", 200, chromedp.SendKeys(chromedp.ID("member-search"), appID), chromedp.Submit(chromedp.ID("member-search")))
		if chosen, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("input[name=member]:checked").value`)); err != nil || chosen != spID {
			t.Fatalf("the member chosen after the search: %q %v, want %s", chosen, err, spID)
		}
	}
	pick()
	// The form without its CSRF token changes nothing.
	do(ctx, chromedp.SetValue(chromedp.ID("role"), acrPull),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("form[aria-labelledby=add-heading] input[name=csrf_token]").remove()`))
	follow(ctx, "Add without a CSRF token", 403, chromedp.Click(`//form[@aria-labelledby="add-heading"]//button[.="Add"]`))
	if out := adminB.run("role", "assignment", "list", "--assignee", appID, "--scope", registryID, "-o", "tsv"); out != "" {
		t.Fatalf("a role assignment made without a CSRF token: %s", out)
	}
	follow(ctx, "the registry's access control again", 200, chromedp.Navigate(iam))
	pick()
	do(ctx, chromedp.SetValue(chromedp.ID("role"), acrPull))
	follow(ctx, "Add role assignment", 200, chromedp.Click(`//form[@aria-labelledby="add-heading"]//button[.="Add"]`))
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("tbody tr")].map(r => [...r.cells].slice(0, 4).map(c => c.innerText.split("\n")[0]).join("|"))`))
	if err != nil || !slices.Contains(got, "AcrPull|s3-cross-tenant|Application of another tenant|This container registry") {
		t.Fatalf("the role assignments after adding: %q %v", got, err)
	}
	shots(t, ctx, "portal-iam")

	// The rest of S3: the application's credentials pull from B's
	// registry, and may not push.
	pulled, err := remote.Image(ref, registryAs(appID, secret)...)
	if err != nil {
		t.Fatalf("pull with the consented application's credentials after step 3: %v", err)
	}
	sameImage(t, "pulled across tenants", img, pulled)
	other, _ := name.ParseReference(registry + "/aci-helloworld:v2")
	if err := remote.Write(other, img, registryAs(appID, secret)...); err == nil {
		t.Fatal("AcrPull pushed")
	}

	// Sign-out ends the session: the portal asks for a sign-in again.
	follow(ctx, "Sign out", 200, chromedp.Click(`//button[.="Sign out"]`))
	if h1 := text(ctx, "h1"); h1 != "Sign in" {
		t.Fatalf("after signing out: %q", h1)
	}
	follow(ctx, "the access control page after signing out", 200, chromedp.Navigate(iam))
	if h1 := text(ctx, "h1"); h1 != "Sign in" {
		t.Fatalf("after signing out, the access control page shows %q", h1)
	}
}

// shots saves the page as NAME-wide.png and NAME-narrow.png (a phone's
// width) when BERTH_SCREENSHOTS=DIR.
func shots(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("BERTH_SCREENSHOTS") == "" {
		return
	}
	for _, size := range []struct {
		name          string
		width, height int64
	}{{"wide", 1280, 800}, {"narrow", 390, 844}} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(size.width, size.height)); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, name+"-"+size.name+".png")
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(900, 760)); err != nil {
		t.Fatal(err)
	}
}
