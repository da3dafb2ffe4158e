package e2e

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berthhq/berth/internal/testutil/kubetest"
)

// Workload identity with a real API server: an application trusts the
// cluster's service account tokens through a federated credential; the
// cloud SDK's workload identity credential, configured only as the
// webhook configures pods, gets the application's token with the
// account's token and the registry SDK pulls with it. No secret anywhere.
func TestWorkloadIdentityWithRealAPIServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cluster := kubetest.Start(t, kubetest.Options{Audiences: []string{tokenExchangeAudience}})
	e := newIdentityEnv(t, "wiregistry", "--federation-ca-file", cluster.CAFile)
	pusher := e.principal("wi-pusher", "acrpush", "")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 512)
	e.pushAs(pusher, "apps/web:v1", img)

	// The workload's application: AcrPull, and no secret it will use.
	app := e.principal("wi-workload", "acrpull", "")
	trust := func(name, issuer, subject string) {
		params, _ := json.Marshal(map[string]any{"name": name, "issuer": issuer, "subject": subject, "audiences": []string{tokenExchangeAudience}})
		e.run("ad", "app", "federated-credential", "create", "--id", app.appID, "--parameters", string(params), "-o", "none")
	}
	trust("kube", cluster.Issuer, "system:serviceaccount:default:workload")

	tokenFile := func(sa, audience string) string { return podTokenFile(t, cluster, "default", sa, audience) }
	refused := func(what, file, code string) { wantRefused(ctx, t, what, e.workloadCredential(app.appID, file), code) }

	if err := e.pullManifestWith(ctx, e.workloadCredential(app.appID, tokenFile("workload", tokenExchangeAudience)), "apps/web", "v1", img); err != nil {
		t.Fatalf("pull with the workload's identity: %v", err)
	}

	// Refused, each with the cloud's code.
	refused("another service account's token", tokenFile("intruder", tokenExchangeAudience), "700213")
	refused("a token for another audience", tokenFile("workload", "https://kubernetes.default.svc"), "700212")

	// A credential trusting an issuer whose documents cannot be
	// fetched: the other cluster's tokens name an address nothing
	// answers at.
	other := kubetest.Start(t, kubetest.Options{Issuer: "https://127.0.0.1:1/unreachable", Audiences: []string{tokenExchangeAudience}})
	trust("unreachable", other.Issuer, "system:serviceaccount:default:default")
	refused("a token of an issuer berth cannot reach", podTokenFile(t, other, "default", "default", tokenExchangeAudience), "90061")

	e.run("ad", "app", "federated-credential", "delete", "--id", app.appID, "--federated-credential-id", "kube", "-o", "none")
	refused("after the federated credential was deleted", tokenFile("workload", tokenExchangeAudience), "700211")
}

// The kubelet's newest credential provider mode: with the pod's service
// account token in the request, the provider pulls as the pod's own
// identity (the application its service account names), through
// workload identity federation, not as the node's. A pod whose identity
// may not pull is refused although the node's identity may.
func TestCredentialProviderPullsAsThePodsIdentity(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cluster := kubetest.Start(t, kubetest.Options{Audiences: []string{tokenExchangeAudience}})
	e := newIdentityEnv(t, "podidregistry", "--federation-ca-file", cluster.CAFile)
	pusher := e.principal("pi-pusher", "acrpush", "")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 256)
	e.pushAs(pusher, "apps/api:v1", img)

	node := e.principal("pi-node", "acrpull", "")
	puller := e.principal("pi-puller", "acrpull", "")
	// An application that may do nothing at the registry: a Reader of
	// another resource group.
	e.run("group", "create", "-n", "elsewhere", "-l", "westeurope", "-o", "none")
	stranger := e.principal("pi-stranger", "reader", "/subscriptions/"+e.s.Boot.SubscriptionID+"/resourceGroups/elsewhere")
	for sa, app := range map[string]principal{"puller": puller, "stranger": stranger} {
		params, _ := json.Marshal(map[string]any{"name": "kube", "issuer": cluster.Issuer,
			"subject": "system:serviceaccount:default:" + sa, "audiences": []string{tokenExchangeAudience}})
		e.run("ad", "app", "federated-credential", "create", "--id", app.appID, "--parameters", string(params), "-o", "none")
	}
	nodeFile := writeNodeFile(t, e, node)
	ref := e.loginServer + "/apps/api:v1"
	provide := func(sa, clientID string) (map[string]struct{ Username, Password string }, error) {
		req := map[string]any{"apiVersion": "credentialprovider.kubelet.k8s.io/v1", "kind": "CredentialProviderRequest", "image": ref}
		if sa != "" {
			req["serviceAccountToken"] = cluster.ServiceAccountToken(t, "default", sa, 0, tokenExchangeAudience)
			req["serviceAccountAnnotations"] = map[string]string{"azure.workload.identity/client-id": clientID}
		}
		in, _ := json.Marshal(req)
		p := newCLI(t, t.TempDir())
		p.stdin = string(in)
		out, stderr, err := p.exec("credential-provider", nodeFile)
		if err != nil {
			return nil, errors.New(stderr)
		}
		var resp struct {
			Auth map[string]struct{ Username, Password string }
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatalf("provider answered %q: %v", out, err)
		}
		return resp.Auth, nil
	}
	pull := func(user, pass string) error {
		_, err := remote.Image(e.ref("apps/api:v1"), e.ggcr(ctx, authn.AuthConfig{Username: user, Password: pass})...)
		return err
	}

	auth, err := provide("", "")
	if err != nil || pull(auth[e.loginServer].Username, auth[e.loginServer].Password) != nil {
		t.Fatalf("the node's own identity: %v %v", auth, err)
	}
	auth, err = provide("puller", puller.appID)
	if err != nil {
		t.Fatalf("a pod whose identity may pull: %v", err)
	}
	a := auth[e.loginServer]
	if a.Username != "00000000-0000-0000-0000-000000000000" || a.Password == node.secret {
		t.Errorf("the pod's credentials are not its own identity's refresh token: user %s", a.Username)
	}
	if err := pull(a.Username, a.Password); err != nil {
		t.Errorf("pull with the pod's credentials: %v", err)
	}
	if _, err := provide("stranger", stranger.appID); err == nil || !strings.Contains(err.Error(), "no role assignment") {
		t.Errorf("a pod whose identity may not pull: %v, want a refusal naming the missing role assignment", err)
	}
	if _, err := provide("stranger", puller.appID); err == nil || !strings.Contains(err.Error(), "AADSTS700213") {
		t.Errorf("a pod's token presented for another service account's application: %v, want AADSTS700213", err)
	}
}

// Workload identity for a user-assigned managed identity, the way the
// cloud's guides set it up: the identity and its federated credential
// made with the cloud SDK's management clients, AcrPull for the
// identity's principal, and the workload identity credential with the
// identity's client id pulls. The credential deleted, the same token is
// refused.
func TestManagedIdentityWorkloadIdentity(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cluster := kubetest.Start(t, kubetest.Options{Audiences: []string{tokenExchangeAudience}})
	e := newIdentityEnv(t, "miwiregistry", "--federation-ca-file", cluster.CAFile)
	pusher := e.principal("miwi-pusher", "acrpush", "")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "arm64"}, 384)
	e.pushAs(pusher, "apps/worker:v1", img)

	admin := newManagement(t, e.s, e.s.Boot.ClientID, e.s.Boot.ClientSecret)
	identities, err := armmsi.NewUserAssignedIdentitiesClient(admin.sub, admin.cred, admin.opts)
	if err != nil {
		t.Fatal(err)
	}
	identity, err := identities.CreateOrUpdate(ctx, "images", "workers", armmsi.Identity{Location: to.Ptr("westeurope")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clientID, principalID := *identity.Properties.ClientID, *identity.Properties.PrincipalID
	e.run("role", "assignment", "create", "--assignee-object-id", principalID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "AcrPull", "--scope", e.registryID, "-o", "none")

	fics, err := armmsi.NewFederatedIdentityCredentialsClient(admin.sub, admin.cred, admin.opts)
	if err != nil {
		t.Fatal(err)
	}
	fic, err := fics.CreateOrUpdate(ctx, "images", "workers", "kube", armmsi.FederatedIdentityCredential{
		Properties: &armmsi.FederatedIdentityCredentialProperties{
			Issuer: to.Ptr(cluster.Issuer), Subject: to.Ptr("system:serviceaccount:default:worker"), Audiences: []*string{to.Ptr(tokenExchangeAudience)},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *fic.Name != "kube" || *fic.Type != "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials" ||
		!strings.HasSuffix(*fic.ID, "/userAssignedIdentities/workers/federatedIdentityCredentials/kube") || *fic.Properties.Subject != "system:serviceaccount:default:worker" {
		t.Fatalf("the federated credential as the SDK reads it: %+v %+v", fic.FederatedIdentityCredential, fic.Properties)
	}
	var listed []string
	for pager := fics.NewListPager("images", "workers", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Value {
			listed = append(listed, *f.Name)
		}
	}
	if len(listed) != 1 || listed[0] != "kube" {
		t.Fatalf("listed: %v", listed)
	}

	tokenFile := podTokenFile(t, cluster, "default", "worker", tokenExchangeAudience)
	cred := e.workloadCredential(clientID, tokenFile)
	if err := e.pullManifestWith(ctx, cred, "apps/worker", "v1", img); err != nil {
		t.Fatalf("pull as the managed identity: %v", err)
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if oid, appid := tokenClaim(t, tok.Token, "oid"), tokenClaim(t, tok.Token, "appid"); oid != principalID || appid != clientID {
		t.Fatalf("the token's identity: oid %v appid %v, want %s %s", oid, appid, principalID, clientID)
	}

	if _, err := fics.Delete(ctx, "images", "workers", "kube", nil); err != nil {
		t.Fatal(err)
	}
	wantRefused(ctx, t, "after the federated credential was deleted", e.workloadCredential(clientID, tokenFile), "700211")
}
