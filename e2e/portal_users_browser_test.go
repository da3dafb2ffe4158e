package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestPortalUsersAndAccess: in headless Chromium, the bootstrap tenant's
// first user creates a user, whose password the page shows once and who
// signs in with it and must choose another; then, on the default
// registry's access control, checks the new user's access (none), finds
// them with the member picker's search, grants them AcrPull, and checks
// again; and sees a managed identity made with the CLI with its federated
// credential. With BERTH_SCREENSHOTS=DIR the pages are saved there as PNG.
func TestPortalUsersAndAccess(t *testing.T) {
	s := berthtest.Start(t)
	p := signedInPortal(t, s)
	ctx, load, text := p.ctx, p.load, p.text
	load("Users", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="Users"]`))
	load("+ New user", 200, chromedp.Click(`//a[.="+ New user"]`))
	load("Create", 200, chromedp.SendKeys(chromedp.ID("name"), "Robin Reader"), chromedp.SendKeys(chromedp.ID("username"), "robin"),
		chromedp.Click(`//button[.="Create"]`))
	pw, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("new-password")))
	if err != nil || len(pw) < 8 {
		t.Fatalf("the new user's password: %q %v", pw, err)
	}
	shots(t, ctx, "portal-user-created")
	domain := s.Boot.AdminUser[strings.Index(s.Boot.AdminUser, "@"):]
	load("Users again", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="Users"]`))
	if got := text(`//tr[td[2]="robin` + domain + `"]/td[1]`); got != "Robin Reader" {
		t.Fatalf("the new user in the list: %q", got)
	}
	shots(t, ctx, "portal-users")

	// Check access: none yet.
	load("Container registries", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="Container registries"]`))
	load("the registry's access control", 200, chromedp.Click(`//tr[td[1]="`+s.Boot.Registry+`"]//a[starts-with(., "Access control")]`))
	iam, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil {
		t.Fatal(err)
	}
	check := func() string {
		t.Helper()
		load("Check access: search", 200, chromedp.SendKeys(chromedp.ID("check-search"), "robin"), chromedp.Submit(chromedp.ID("check-search")))
		load("Check access: the user", 200, chromedp.Click(`//ul[@aria-label="Members found"]//a[.="Robin Reader"]`))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.permissions .tag.allowed")].map(e => e.closest("tr").cells[0].innerText)`))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, ", ")
	}
	if got := check(); got != "" {
		t.Fatalf("a new user's access at the registry: %q", got)
	}
	// The member picker: a search, the one match chosen, a role, Add.
	load("Find the member", 200, chromedp.SendKeys(chromedp.ID("member-search"), "robin"), chromedp.Submit(chromedp.ID("member-search")))
	shots(t, ctx, "portal-add-assignment")
	load("Add", 200, chromedp.SetValue(chromedp.ID("role"), "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
		chromedp.Click(`//form[@aria-labelledby="add-heading"]//button[.="Add"]`))
	load("the access control again", 200, chromedp.Navigate(iam))
	if got := check(); got != "Pull images" {
		t.Fatalf("the user's access with AcrPull at the registry: %q", got)
	}
	shots(t, ctx, "portal-check-access")

	// A managed identity with a federated credential, made with the CLI,
	// in the portal.
	admin := adminCLI(t, s)
	admin.run("group", "create", "--name", "pods", "--location", "westeurope", "-o", "none")
	clientID := admin.run("identity", "create", "-g", "pods", "-n", "builder", "--query", "clientId", "-o", "tsv")
	admin.run("identity", "federated-credential", "create", "-g", "pods", "--identity-name", "builder", "--name", "ci-builder",
		"--issuer", "https://issuer.example", "--subject", "system:serviceaccount:ci:builder", "-o", "none")
	load("Managed identities", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="Managed identities"]`))
	load("the identity", 200, chromedp.Click(`//a[.="builder"]`))
	if got := text("#client-id"); got != clientID {
		t.Fatalf("the identity's client id: %q, want %s", got, clientID)
	}
	if got := text(`//td[@data-label="Subject"]`); got != "system:serviceaccount:ci:builder" {
		t.Fatalf("the identity's federated credential: %q", got)
	}
	shots(t, ctx, "portal-identity")

	// The new user signs in with the password shown, and must choose
	// another.
	p.ctx = p.browser()
	ctx = p.ctx
	load("berth's address as the new user", 200, chromedp.Navigate(s.URL+"/portal/"))
	load("sign in as the new user", 200, chromedp.SendKeys(chromedp.ID("username"), "robin"+domain), chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Submit(chromedp.ID("password")))
	if h1 := text("h1"); !strings.Contains(strings.ToLower(h1), "password") {
		t.Fatalf("the new user's first sign-in shows %q, not the page to choose a password", h1)
	}
}
