package kubetest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestOwnIssuer uses the harness as a relying party and an administrator
// would: a token from the TokenRequest API, for the API server's default
// audience, verifies through the issuer's discovery document and keys,
// read without credentials; kubectl acts as the administrator.
func TestOwnIssuer(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{})
	if c.Issuer != c.URL {
		t.Fatalf("Issuer = %q, want the API server's URL %q", c.Issuer, c.URL)
	}
	ctx := context.Background()
	tr, err := c.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	anon := anonymous(c)
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, anon), c.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	tok, err := provider.Verifier(&oidc.Config{ClientID: c.Issuer}).Verify(ctx, tr.Status.Token)
	if err != nil {
		t.Fatalf("verifying the token: %v", err)
	}
	if want := "system:serviceaccount:default:default"; tok.Subject != want {
		t.Fatalf("sub = %q, want %q", tok.Subject, want)
	}

	// Anonymous users get discovery and nothing else.
	resp, err := anon.Get(c.URL + "/api/v1/namespaces/default/secrets")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous list of secrets: %s, want 403", resp.Status)
	}

	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	out, err := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl auth whoami: %v\n%s", err, out)
	}
	var groups []string
	if err := json.Unmarshal(out, &groups); err != nil || !slices.Contains(groups, "system:masters") {
		t.Fatalf("kubectl is in groups %s (%v), want system:masters", out, err)
	}
}

// TestCallersIssuer: tokens carry the issuer and audiences the caller
// chose, and the API server's discovery names that issuer.
func TestCallersIssuer(t *testing.T) {
	t.Parallel()
	const issuer = "https://issuer.example/clusters/kubetest"
	c := Start(t, Options{Issuer: issuer, Audiences: []string{"api://berth", "api://other"}})
	if c.Issuer != issuer {
		t.Fatalf("Issuer = %q, want %q", c.Issuer, issuer)
	}
	ctx := context.Background()
	_, err := c.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "workload"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "workload", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"api://berth"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	anon := anonymous(c)
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, anon, c.URL+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != issuer {
		t.Fatalf("discovery issuer = %q, want %q", disc.Issuer, issuer)
	}
	// The keys stay at the API server, wherever the issuer is.
	if want := c.URL + "/openid/v1/jwks"; disc.JWKSURI != want {
		t.Fatalf("jwks_uri = %q, want %q", disc.JWKSURI, want)
	}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(ctx, anon), disc.JWKSURI)
	verify := func(audience string) (*oidc.IDToken, error) {
		return oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: audience}).Verify(ctx, tr.Status.Token)
	}
	tok, err := verify("api://berth")
	if err != nil {
		t.Fatalf("verifying the token: %v", err)
	}
	if want := "system:serviceaccount:default:workload"; tok.Subject != want {
		t.Fatalf("sub = %q, want %q", tok.Subject, want)
	}
	if _, err := verify("api://other"); err == nil {
		t.Fatal("the token verified for an audience it was not issued for")
	}
}

// anonymous is a client that trusts the API server and presents no
// credentials.
func anonymous(c *Cluster) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CA}}, Timeout: 10 * time.Second}
}

func getJSON(t *testing.T, client *http.Client, url string, v any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
