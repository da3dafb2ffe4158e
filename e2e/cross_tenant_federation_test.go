package e2e

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// The pattern the cloud documents for an application that trusts a
// managed identity: the cloud SDK's client assertion credential, whose
// callback gets the identity's token for the token exchange audience from
// the machine's metadata endpoint, gets the application's tokens in
// another tenant that consented to it. No secret anywhere.
func TestClientAssertionFromManagedIdentity(t *testing.T) {
	s := startBerth(t)
	a := adminCLI(t, s).run
	out, err := operator(t, s, "tenant", "create", "--display-name", "Tenant B", "--domain", "b.xtsdk.example")
	if err != nil {
		t.Fatalf("berth tenant create: %v\n%s", err, out)
	}
	var b struct{ TenantID, ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	inB := newCLI(t, t.TempDir())
	inB.run("login", "--service-principal", "-u", b.ClientID, "-p", b.ClientSecret, "--tenant", b.TenantID, "--server", s.URL, "--ca-file", s.CAFile, "-o", "none")

	a("group", "create", "-n", "nodes", "-l", "westeurope", "-o", "none")
	a("identity", "create", "-g", "nodes", "-n", "node-identity", "-o", "none")
	miID := a("identity", "show", "-g", "nodes", "-n", "node-identity", "--query", "id", "-o", "tsv")
	miClientID := a("identity", "show", "-g", "nodes", "-n", "node-identity", "--query", "clientId", "-o", "tsv")
	miObjectID := a("identity", "show", "-g", "nodes", "-n", "node-identity", "--query", "principalId", "-o", "tsv")
	credFile := t.TempDir() + "/vm.credential.json"
	vmID := a("vm", "create", "-g", "nodes", "-n", "node1", "--image", "Ubuntu2204", "--assign-identity", miID, "--credential-file", credFile, "--query", "id", "-o", "tsv")
	app := a("ad", "app", "create", "--display-name", "xt-sdk", "--sign-in-audience", "AzureADMultipleOrgs", "--query", "appId", "-o", "tsv")
	params, _ := json.Marshal(map[string]any{"name": "node-identity", "issuer": s.URL + "/" + s.Boot.TenantID + "/v2.0",
		"subject": miObjectID, "audiences": []string{tokenExchangeAudience}})
	a("ad", "app", "federated-credential", "create", "--id", app, "--parameters", string(params), "-o", "none")
	inB.run("ad", "sp", "create", "--id", app, "-o", "none")

	addr, stop, err := startAgent(berthtest.Binary(t), vmID, credFile, "--identity-header", "the-header")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if log := stop(); t.Failed() {
			t.Logf("berth imds stderr:\n%s", log)
		}
	}()
	t.Setenv("IDENTITY_ENDPOINT", addr+"/msi/token")
	t.Setenv("IDENTITY_HEADER", "the-header")
	mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(miClientID)})
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(ctx context.Context) (string, error) {
		tok, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{tokenExchangeAudience + "/.default"}})
		return tok.Token, err
	}
	cred, err := azidentity.NewClientAssertionCredential(b.TenantID, app, assertion, &azidentity.ClientAssertionCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloudAt(s), Transport: s.Client()}, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatalf("the application's token in tenant B with the identity's assertion: %v", err)
	}
	if tid, appid := tokenClaim(t, tok.Token, "tid"), tokenClaim(t, tok.Token, "appid"); tid != b.TenantID || appid != app {
		t.Errorf("the token's tenant and application: %v %v, want %s %s", tid, appid, b.TenantID, app)
	}
}
