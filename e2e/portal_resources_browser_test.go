package e2e

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/chromedp/chromedp"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestPortalResources: in headless Chromium, the bootstrap tenant's first
// user opens their subscription and its resource group, creates a
// registry with + Create registry, turns its admin user and anonymous
// pull on in its settings (which the CLI then sees, and the admin
// user's credentials answer), registers an application and uploads a PEM
// certificate to it on Certificates & secrets, listed by its thumbprint.
// With BERTH_SCREENSHOTS=DIR the pages are saved there as PNG.
func TestPortalResources(t *testing.T) {
	s := berthtest.Start(t)
	p := signedInPortal(t, s)
	ctx, load, text := p.ctx, p.load, p.text

	// The subscription, its resource group, the registry in it.
	load("the subscription", 200, chromedp.Click(`//main//table//td[@data-label="Name"]/a`))
	shots(t, ctx, "portal-subscription")
	load("the resource group", 200, chromedp.Click(`//main//table//td[@data-label="Name"]/a`))
	if got := text(`//tr[td[1]="` + s.Boot.Registry + `"]/td[@data-label="Type"]`); got != "Container registry" {
		t.Fatalf("the bootstrap registry in its group: %q", got)
	}
	shots(t, ctx, "portal-resource-group")

	// A new registry, and its settings.
	load("Container registries", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="Container registries"]`))
	load("+ Create registry", 200, chromedp.Click(`//a[.="+ Create registry"]`))
	load("Create with a bad name", 400, chromedp.SendKeys(chromedp.ID("name"), "ship-yard"), chromedp.Click(`//button[.="Create"]`))
	if got := text(".error-summary li"); !strings.Contains(got, "alphanumeric") {
		t.Fatalf("the refusal of a bad name: %q", got)
	}
	shots(t, ctx, "portal-create-registry")
	load("Create", 200, chromedp.SetValue(chromedp.ID("name"), "shipyard1"), chromedp.Click(`//button[.="Create"]`))
	if h1 := text("h1"); h1 != "shipyard1" {
		t.Fatalf("after Create: %q", h1)
	}
	server := text(`//dt[.="Login server"]/following-sibling::dd[1]`)
	if !strings.HasPrefix(server, "shipyard1.") {
		t.Fatalf("the new registry's login server: %q", server)
	}
	admin := adminCLI(t, s)
	if _, err := admin.try("acr", "credential", "show", "-n", "shipyard1", "-o", "none"); err == nil {
		t.Fatal("the admin user's credentials answer before the admin user is turned on")
	}
	load("Save", 200, chromedp.Click(chromedp.ID("admin_user")), chromedp.Click(chromedp.ID("anonymous_pull")), chromedp.Click(`//button[.="Save"]`))
	if got := text(".notice h2"); got != "Settings saved" {
		t.Fatalf("after Save: %q", got)
	}
	shots(t, ctx, "portal-registry-settings")
	if got := admin.run("acr", "show", "-n", "shipyard1", "--query", "[adminUserEnabled, anonymousPullEnabled]", "-o", "tsv"); strings.Join(strings.Fields(got), " ") != "True True" {
		t.Fatalf("the registry after Save, as the CLI shows it: %q", got)
	}
	if got := admin.run("acr", "credential", "show", "-n", "shipyard1", "--query", "username", "-o", "tsv"); strings.TrimSpace(got) != "shipyard1" {
		t.Fatalf("the admin user's name: %q", got)
	}

	// A certificate uploaded to a new registration.
	load("App registrations", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="App registrations"]`))
	load("+ New registration", 200, chromedp.Click(`//a[.="+ New registration"]`))
	load("Register", 200, chromedp.SendKeys(chromedp.ID("name"), "signer"), chromedp.Click(`//button[.="Register"]`))
	appID := text("#app-id")
	load("Certificates & secrets", 200, chromedp.Click(`//nav[@class="tabs"]//a[.="Certificates & secrets"]`))
	signer := newClientCert(t, "build signer")
	file := filepath.Join(t.TempDir(), "signer.pem")
	if err := os.WriteFile(file, []byte(signer.pem), 0o600); err != nil {
		t.Fatal(err)
	}
	load("Upload", 200, chromedp.SetUploadFiles(chromedp.ID("certificate"), []string{file}), chromedp.SendKeys(chromedp.ID("certificate_description"), "build signer"),
		chromedp.Click(`//button[.="Upload"]`))
	sum := sha1.Sum(signer.cert.Raw)
	if got := text(`//td[@data-label="Thumbprint"]`); got != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Fatalf("the certificate's thumbprint: %q", got)
	}
	// The application signs in with the certificate's key.
	admin.try("ad", "sp", "create", "--id", appID, "-o", "none")
	cred, err := azidentity.NewClientCertificateCredential(s.Boot.TenantID, appID, []*x509.Certificate{signer.cert}, signer.key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: cloudAt(s), Transport: s.Client()}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}}); err != nil {
		t.Fatalf("a token with the certificate uploaded in the portal: %v", err)
	}
	shots(t, ctx, "portal-certificates")
}
