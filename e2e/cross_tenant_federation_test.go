package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

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

// A cluster of tenant A that runs as managed identities pulls from tenant
// B's registry with no secret anywhere: its nodes act as tenant A's
// multi-tenant application, whose federated credential trusts the kubelet
// identity. berth credential-provider, given the node file aks
// get-node-config writes, gets the kubelet identity's token for the token
// exchange audience from the machine's real metadata agent, the
// application's token in tenant B with it, and a registry refresh token
// that pulls. Removing the federated credential stops the next exchange
// with the directory's error.
func TestCredentialProviderActsAsApplication(t *testing.T) {
	t.Parallel()
	s := startBerth(t)
	admin := adminCLI(t, s)
	a := admin.run
	out, err := operator(t, s, "tenant", "create", "--display-name", "Tenant B", "--domain", "b.xtnode.example")
	if err != nil {
		t.Fatalf("berth tenant create: %v\n%s", err, out)
	}
	var b struct{ TenantID, ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	inB := newCLI(t, t.TempDir())
	inB.run("login", "--service-principal", "-u", b.ClientID, "-p", b.ClientSecret, "--tenant", b.TenantID, "--server", s.URL, "--ca-file", s.CAFile, "-o", "none")

	// Tenant A: the cluster, a node with its kubelet identity, and the
	// application.
	a("group", "create", "-n", "nodes", "-l", "westeurope", "-o", "none")
	a("aks", "create", "-g", "nodes", "-n", "xt", "--enable-managed-identity", "--node-count", "1", "-o", "none")
	kubelet := func(field string) string {
		return a("aks", "show", "-g", "nodes", "-n", "xt", "--query", "identityProfile.kubeletidentity."+field, "-o", "tsv")
	}
	kubeletID, kubeletClientID, kubeletObjectID := kubelet("resourceId"), kubelet("clientId"), kubelet("objectId")
	credFile := filepath.Join(t.TempDir(), "node0.credential.json")
	vmID := a("vm", "create", "-g", "nodes", "-n", "node0", "--image", "Ubuntu2204", "--assign-identity", kubeletID, "--credential-file", credFile, "--query", "id", "-o", "tsv")
	app := a("ad", "app", "create", "--display-name", "xt-nodes", "--sign-in-audience", "AzureADMultipleOrgs", "--query", "appId", "-o", "tsv")
	reset := []string{"aks", "update-credentials", "-g", "nodes", "-n", "xt", "--reset-service-principal", "--service-principal", app, "-o", "none"}
	if out, err := admin.try(reset...); err == nil || !strings.Contains(out, "No federated credential of the application "+app+" trusts the kubelet identity") {
		t.Fatalf("update-credentials before the application trusts the kubelet identity: %v\n%s", err, out)
	}
	params, _ := json.Marshal(map[string]any{"name": "kubelet", "issuer": s.URL + "/" + s.Boot.TenantID + "/v2.0",
		"subject": kubeletObjectID, "audiences": []string{tokenExchangeAudience}})
	a("ad", "app", "federated-credential", "create", "--id", app, "--parameters", string(params), "-o", "none")
	a(reset...)

	// Tenant B: consent, the registry, an image, AcrPull.
	inB.run("ad", "sp", "create", "--id", app, "-o", "none")
	inB.run("group", "create", "-n", "images", "-l", "westeurope", "-o", "none")
	acrID := inB.run("acr", "create", "--name", "xtnodes", "-g", "images", "--query", "id", "-o", "tsv")
	inB.run("role", "assignment", "create", "--assignee", app, "--role", "acrpull", "--scope", acrID, "-o", "none")
	_, port, _ := net.SplitHostPort(s.Host)
	image := "xtnodes.cr.localhost:" + port + "/apps/web:v1"
	ref, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	remoteAs := func(user, pass string) []remote.Option {
		return []remote.Option{remote.WithContext(t.Context()), remote.WithTransport(loginServerTransport(s)),
			remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: user, Password: pass}))}
	}
	if err := remote.Write(ref, ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 256), remoteAs(b.ClientID, b.ClientSecret)...); err != nil {
		t.Fatal(err)
	}

	// The node file: the application, the kubelet identity, tenant B; no
	// secret.
	nodeFile := filepath.Join(t.TempDir(), "azure.json")
	if out := a("aks", "get-node-config", "-g", "nodes", "-n", "xt", "--registry-tenant", b.TenantID, "--file", nodeFile); !strings.Contains(out, `"mode": "applicationThroughKubeletIdentity"`) {
		t.Errorf("get-node-config: %s", out)
	}
	raw, err := os.ReadFile(nodeFile)
	if err != nil {
		t.Fatal(err)
	}
	var node map[string]any
	if err := json.Unmarshal(raw, &node); err != nil {
		t.Fatal(err)
	}
	if node["aadClientId"] != app || node["useManagedIdentityExtension"] != true || node["userAssignedIdentityID"] != kubeletClientID ||
		node["registryTenantId"] != b.TenantID || node["tenantId"] != s.Boot.TenantID {
		t.Errorf("the node file: %s", raw)
	}
	if _, ok := node["aadClientSecret"]; ok {
		t.Errorf("the node file has a secret: %s", raw)
	}

	addr, stop, err := startAgent(berthtest.Binary(t), vmID, credFile)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if log := stop(); t.Failed() {
			t.Logf("berth imds stderr:\n%s", log)
		}
	}()
	host := ref.Context().RegistryStr()
	provide := func() (providerAuth, error) {
		p := newCLI(t, t.TempDir())
		p.env = []string{"BERTH_IMDS_ENDPOINT=" + addr}
		p.stdin = `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"` + image + `"}`
		out, stderr, err := p.exec("credential-provider", nodeFile)
		if err != nil {
			return providerAuth{}, fmt.Errorf("%v: %s", err, stderr)
		}
		var resp struct {
			CacheDuration string
			Auth          map[string]providerAuth
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			return providerAuth{}, fmt.Errorf("the provider answered %q: %v", out, err)
		}
		if d, err := time.ParseDuration(resp.CacheDuration); err != nil || d <= 0 {
			return providerAuth{}, fmt.Errorf("the provider's cacheDuration %q", resp.CacheDuration)
		}
		return resp.Auth[host], nil
	}
	auth, err := provide()
	if err != nil {
		t.Fatalf("the provider as the application in tenant B: %v", err)
	}
	if auth.Username != nullUser || tokenClaim(t, auth.Password, "tenant") != b.TenantID {
		t.Errorf("the provider's credentials: user %s, a refresh token of tenant %v; want the null user's of %s", auth.Username, tokenClaim(t, auth.Password, "tenant"), b.TenantID)
	}
	if _, err := remote.Image(ref, remoteAs(auth.Username, auth.Password)...); err != nil {
		t.Errorf("pull with the provider's credentials: %v", err)
	}

	a("ad", "app", "federated-credential", "delete", "--id", app, "--federated-credential-id", "kubelet", "-o", "none")
	if _, err := provide(); err == nil || !strings.Contains(err.Error(), "AADSTS700211") {
		t.Errorf("the provider after the federated credential is gone: %v, want AADSTS700211", err)
	}
}

// providerAuth is one registry's credentials in a provider's answer.
type providerAuth struct{ Username, Password string }
