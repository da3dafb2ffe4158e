package oidcissuer_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/oidcissuer"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// A hosted issuer's documents, as a Kubernetes API server serves its
// own, at the issuer's exact URL only; other paths and issuers are not
// found, and nothing is written.
func TestHostedIssuerDocuments(t *testing.T) {
	meta, _ := stores.New(t)
	ctx := t.Context()
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	srv.Config.Handler = &oidcissuer.Handler{Store: meta, Scheme: "http", Log: slog.New(slog.DiscardHandler)}
	iss := srv.URL + "/oidc/tenant-a/0b5bd4b2-7a4f-4ad5-9d3a-3b4c9d1e2f10/"

	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	set, err := federation.ParseKeys(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := json.Marshal(set)
	now := time.Now().UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(meta.CreateTenant(ctx, store.Tenant{ID: "tenant-a", Domain: "a.example", CreatedAt: now}))
	must(meta.CreateSubscription(ctx, store.Subscription{ID: "s", TenantID: "tenant-a", CreatedAt: now}))
	must(meta.CreateResourceGroup(ctx, store.ResourceGroup{SubscriptionID: "s", Name: "g", Location: "here", CreatedAt: now}))
	id := "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c"
	props, _ := json.Marshal(resourcetype.ClusterProperties{OIDCIssuerProfile: &resourcetype.OIDCIssuerProfile{Enabled: true, IssuerURL: iss, ServiceAccountKeys: keys}})
	must(meta.CreateResource(ctx, store.Resource{ID: id, SubscriptionID: "s", ResourceGroup: "g", Type: resourcetype.ManagedCluster, Name: "c",
		Location: "here", Properties: props, CreatedAt: now, UpdatedAt: now}))
	must(meta.CreateClusterIssuer(ctx, store.ClusterIssuer{Issuer: iss, ResourceID: id, CreatedAt: now}))

	get := func(method, u string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get(http.MethodGet, iss+".well-known/openid-configuration")
	var disc map[string]any
	json.Unmarshal([]byte(body), &disc)
	if resp.StatusCode != http.StatusOK || disc["issuer"] != iss || disc["jwks_uri"] != iss+"openid/v1/jwks" ||
		resp.Header.Get("Cache-Control") != "public, max-age=300" || !strings.Contains(body, `"id_token_signing_alg_values_supported":["RS256"]`) ||
		!strings.Contains(body, `"response_types_supported":["id_token"]`) || !strings.Contains(body, `"subject_types_supported":["public"]`) {
		t.Fatalf("discovery: %s %v %s", resp.Status, resp.Header, body)
	}
	resp, body = get(http.MethodGet, iss+"openid/v1/jwks")
	var got federation.KeySet
	json.Unmarshal([]byte(body), &got)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/jwk-set+json" || len(got.Keys) != 1 || got.Keys[0] != set.Keys[0] {
		t.Fatalf("key set: %s %v %s", resp.Status, resp.Header, body)
	}
	for _, u := range []string{
		srv.URL + "/oidc/tenant-a/00000000-0000-0000-0000-000000000000/.well-known/openid-configuration",
		iss + "openid/v1/jwks/more",
		iss + "other",
		strings.Replace(iss, "127.0.0.1", "localhost", 1) + ".well-known/openid-configuration",
	} {
		if resp, body := get(http.MethodGet, u); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"code":"NotFound"`) {
			t.Errorf("GET %s: %s %s", u, resp.Status, body)
		}
	}
	if resp, _ := get(http.MethodPost, iss+"openid/v1/jwks"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
	// The cluster no longer names the issuer: it is not served.
	props, _ = json.Marshal(resourcetype.ClusterProperties{})
	must(meta.UpdateResource(ctx, store.Resource{ID: id, Properties: props, UpdatedAt: now}))
	if resp, _ := get(http.MethodGet, iss+"openid/v1/jwks"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an issuer its cluster no longer names: %s", resp.Status)
	}
}
