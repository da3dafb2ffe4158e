package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berthhq/berth/internal/testutil/kubetest"
)

// A cluster's issuers, with real API servers and a berth that trusts no
// extra CA (no --federation-ca-file): the issuer berth hosts, whose keys
// the cluster's operator uploads, and an API server's own issuer, with
// the CA the cluster names. The workload's application trusts each in
// turn through a federated credential; the cloud SDK's workload identity
// credential gets its tokens and the registry SDK pulls with them.
func TestClusterIssuersWithRealAPIServers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newIdentityEnv(t, "issuerregistry")
	admin := adminCLI(t, e.s)
	pusher := e.principal("ci-pusher", "acrpush", "")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 256)
	e.pushAs(pusher, "apps/web:v1", img)
	app := e.principal("ci-workload", "acrpull", "")
	e.run("group", "create", "-n", "clusters", "-l", "westeurope", "-o", "none")

	// Workload identity needs the issuer, as in the cloud.
	out, err := admin.try("aks", "create", "-g", "clusters", "-n", "hosted", "--enable-managed-identity", "--enable-workload-identity")
	if err == nil || !strings.Contains(out, "Enabling workload identity requires enabling OIDC issuer") {
		t.Fatalf("workload identity without the issuer: %v\n%s", err, out)
	}
	e.run("aks", "create", "-g", "clusters", "-n", "hosted", "--enable-managed-identity", "-o", "none")
	e.run("aks", "update", "-g", "clusters", "-n", "hosted", "--enable-oidc-issuer", "--enable-workload-identity", "-o", "none")
	iss := e.run("aks", "show", "-g", "clusters", "-n", "hosted", "--query", "oidcIssuerProfile.issuerUrl", "-o", "tsv")
	if !regexp.MustCompile(`^`+regexp.QuoteMeta(e.s.URL)+`/oidc/`+e.s.Boot.TenantID+`/[0-9a-f-]{36}/$`).MatchString(iss) ||
		e.run("aks", "show", "-g", "clusters", "-n", "hosted", "--query", "securityProfile.workloadIdentity.enabled", "-o", "tsv") != "True" {
		t.Fatalf("the cluster's issuer URL %q", iss)
	}
	if out, err := admin.try("aks", "update", "-g", "clusters", "-n", "hosted", "--enable-workload-identity", "--disable-workload-identity"); err == nil {
		t.Errorf("enable and disable at once: %s", out)
	}

	cluster := kubetest.Start(t, kubetest.Options{Issuer: iss, Audiences: []string{tokenExchangeAudience}})
	trust := func(name, issuer string) {
		params, _ := json.Marshal(map[string]any{"name": name, "issuer": issuer, "subject": "system:serviceaccount:default:workload", "audiences": []string{tokenExchangeAudience}})
		e.run("ad", "app", "federated-credential", "create", "--id", app.appID, "--parameters", string(params), "-o", "none")
	}
	trust("hosted", iss)
	tokenFile := func(c *kubetest.Cluster) string {
		return podTokenFile(t, c, "default", "workload", tokenExchangeAudience)
	}
	refused := func(what, file, code string) { wantRefused(ctx, t, what, e.workloadCredential(app.appID, file), code) }
	pull := func(file string) error {
		return e.pullManifestWith(ctx, e.workloadCredential(app.appID, file), "apps/web", "v1", img)
	}
	hostedToken := tokenFile(cluster)

	// Before its keys are uploaded the issuer has none; with another
	// key, the token does not verify. Neither upload is fetched from
	// anywhere: berth knows the keys.
	refused("before the keys are uploaded", hostedToken, "90061")
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	wrong := filepath.Join(t.TempDir(), "other.pub")
	os.WriteFile(wrong, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	e.run("aks", "update", "-g", "clusters", "-n", "hosted", "--service-account-keys", wrong, "-o", "none")
	refused("with another key uploaded", hostedToken, "700027")
	// A private key is refused before it leaves the CLI.
	if out, err := admin.try("aks", "update", "-g", "clusters", "-n", "hosted", "--service-account-keys", filepath.Join(filepath.Dir(cluster.ServiceAccountPublicKeyFile), "service-account.key")); err == nil ||
		!strings.Contains(out, "public half only") {
		t.Errorf("a private key: %v\n%s", err, out)
	}
	e.run("aks", "update", "-g", "clusters", "-n", "hosted", "--service-account-keys", cluster.ServiceAccountPublicKeyFile, "-o", "none")
	if err := pull(hostedToken); err != nil {
		t.Fatalf("pull with the hosted issuer's token: %v", err)
	}

	// Others read the issuer's documents at its URL, without credentials.
	resp, err := e.client().Get(iss + ".well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || disc.Issuer != iss || disc.JWKSURI != iss+"openid/v1/jwks" {
		t.Fatalf("discovery: %s %+v", resp.Status, disc)
	}
	resp, err = e.client().Get(disc.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []struct{ Kid string } }
	json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(set.Keys) != 1 {
		t.Fatalf("key set: %s %+v", resp.Status, set)
	}

	// An API server serving its own issuer, its certificate signed by
	// the cluster's CA, which berth does not trust until the cluster
	// names it.
	own := kubetest.Start(t, kubetest.Options{Audiences: []string{tokenExchangeAudience}})
	ownToken := tokenFile(own)
	refused("another cluster's token, for the hosted issuer's credential", ownToken, "700211")
	trust("own", own.Issuer)
	refused("the API server's issuer before its CA is named", ownToken, "90061")
	e.run("aks", "create", "-g", "clusters", "-n", "own", "--enable-managed-identity", "-o", "none")
	e.run("aks", "update", "-g", "clusters", "-n", "own", "--api-server-issuer", own.Issuer, "--api-server-issuer-ca-file", own.CAFile, "-o", "none")
	if got := e.run("aks", "show", "-g", "clusters", "-n", "own", "--query", "oidcIssuerProfile.apiServerIssuer.url", "-o", "tsv"); got != own.Issuer {
		t.Errorf("the API server's issuer shows as %q", got)
	}
	// Fetched again at once, though the fetch without the CA failed a
	// moment ago: the CA is part of what berth fetched with.
	if err := pull(ownToken); err != nil {
		t.Fatalf("pull with the API server's own issuer's token: %v", err)
	}
}
