package portal

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
)

// TestIdentitiesAndCompute: a user-assigned identity made through the
// management service is listed with its client id, its page shows its
// federated credential, and a virtual machine it is attached to shows it
// among its identities; a user without a role assignment sees none and
// is refused the identity's page.
func TestIdentitiesAndCompute(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	admin := controlplane.Caller{TenantID: f.tenant.ID, ObjectID: "u-admin"}
	rg := "/subscriptions/" + f.sub + "/resourceGroups/rg/providers/"
	idID, err := resourceid.Parse(rg + resourcetype.Identity + "/builder")
	must(t, err)
	ident, _, err := f.cp.PutResource(ctx, admin, idID, controlplane.ResourceInput{Location: "local"})
	must(t, err)
	var props resourcetype.IdentityProperties
	must(t, json.Unmarshal(ident.Properties, &props))
	fcID, err := resourceid.Parse(idID.String() + "/federatedIdentityCredentials/ci-builder")
	must(t, err)
	_, _, err = f.cp.PutFederatedCredential(ctx, admin, fcID, controlplane.FederatedCredentialInput{Issuer: "https://issuer.example",
		Subject: "system:serviceaccount:ci:builder", Audiences: []string{"api://AzureADTokenExchange"}})
	must(t, err)
	vmID, err := resourceid.Parse(rg + resourcetype.VirtualMachine + "/runner")
	must(t, err)
	_, _, err = f.cp.PutResource(ctx, admin, vmID, controlplane.ResourceInput{Location: "local", Properties: json.RawMessage(`{}`),
		Identity: json.RawMessage(`{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"` + idID.String() + `":{}}}`)})
	must(t, err)

	b := f.browser()
	b.signIn("admin@contoso.example")
	page := "/portal/identity?id=" + url.QueryEscape(idID.String())
	wantPage(t, b.get("/portal/identities"), http.StatusOK, ">builder</a>", props.ClientID)
	wantPage(t, b.get(page), http.StatusOK, `<code id="client-id">`+props.ClientID+`</code>`, props.PrincipalID,
		"<h2>Federated credentials</h2>", "https://issuer.example", "system:serviceaccount:ci:builder", "api://AzureADTokenExchange")
	compute := b.get("/portal/compute")
	wantPage(t, compute, http.StatusOK, `<td data-label="Name">runner</td>`, "Virtual machine", ">builder</a>", props.ClientID, "System-assigned")
	wantPage(t, b.get("/portal/identity?id=nonsense"), http.StatusBadRequest, "does not name a managed identity")

	u := f.browser()
	u.signIn("user@contoso.example")
	if p := u.get("/portal/identities"); p.status != http.StatusOK || strings.Contains(p.body, "builder") {
		t.Fatalf("identities of a user without rights: %d\n%s", p.status, p.body)
	}
	if p := u.get("/portal/compute"); p.status != http.StatusOK || strings.Contains(p.body, "runner") {
		t.Fatalf("machines of a user without rights: %d\n%s", p.status, p.body)
	}
	wantPage(t, u.get(page), http.StatusForbidden, "Not allowed")
}
