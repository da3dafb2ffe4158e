package controlplane_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/store"
)

const issuerBase = "https://berth.test:8443"

func publicPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func caPEM(t *testing.T) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cluster CA"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestClusterOIDCIssuer: a cluster's OIDC issuer, as the cloud has it
// (enabled once and for good, required by workload identity), hosted by
// berth with the keys its operator uploads; and the issuer a cluster's
// API server serves itself, with the cluster's CA. What the token
// service knows of each follows the cluster's properties.
func TestClusterOIDCIssuer(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	cluster := group + "/providers/Microsoft.ContainerService/managedClusters/wi"
	known := controlplane.KnownIssuers{Store: f.meta}
	patch := func(props string) (store.Resource, error) {
		return f.cp.PatchResource(f.ctx, contributor, f.id(cluster), input("", props, ""))
	}
	profile := func(r store.Resource) map[string]any {
		p, _ := f.fields(r.Properties)["oidcIssuerProfile"].(map[string]any)
		return p
	}

	_, _, err := f.put(contributor, cluster, "", `{"securityProfile":{"workloadIdentity":{"enabled":true}}}`, `{"type":"SystemAssigned"}`)
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	if !strings.Contains(err.Error(), "Enabling workload identity requires enabling OIDC issuer") {
		t.Errorf("workload identity without the issuer: %v", err)
	}
	_, _, err = f.put(contributor, cluster, "", `{"oidcIssuerProfile":{"serviceAccountKeys":"x"}}`, `{"type":"SystemAssigned"}`)
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	if rs, _ := f.meta.ListResources(f.ctx, store.ResourceQuery{SubscriptionID: sub}); len(rs) != 0 {
		t.Fatalf("refused creates left %v", names(rs))
	}

	r := f.mustPut(contributor, cluster, "", `{"oidcIssuerProfile":{"enabled":true},"securityProfile":{"workloadIdentity":{"enabled":true}}}`, `{"type":"SystemAssigned"}`, true)
	iss, _ := profile(r)["issuerURL"].(string)
	if !regexp.MustCompile(`^`+issuerBase+`/oidc/`+tenant+`/[0-9a-f-]{36}/$`).MatchString(iss) || profile(r)["enabled"] != true ||
		get(f.fields(r.Properties), "securityProfile", "workloadIdentity", "enabled") != true {
		t.Fatalf("create with the issuer and workload identity: %s", r.Properties)
	}
	if ki, found, err := known.KnownIssuer(f.ctx, iss); err != nil || !found || !ki.Hosted || len(ki.Keys.Keys) != 0 {
		t.Fatalf("the hosted issuer before keys are uploaded: %+v %v %v", ki, found, err)
	}

	// Keys: refused ones change nothing; PEM public keys are kept as the
	// key set berth serves.
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	privDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	for name, keys := range map[string]string{
		"a private key":      quote(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))),
		"a 1024-bit RSA key": quote(publicPEM(t, &small.PublicKey)),
		"no keys":            `{"keys":[]}`,
		"not keys":           `42`,
	} {
		_, err := patch(`{"oidcIssuerProfile":{"serviceAccountKeys":` + keys + `}}`)
		f.wantErr(err, controlplane.ErrBadRequest, "InvalidParameter")
		if !strings.Contains(err.Error(), "serviceAccountKeys") {
			t.Errorf("%s: %v", name, err)
		}
	}
	r, err = patch(`{"oidcIssuerProfile":{"serviceAccountKeys":` + quote(publicPEM(t, &rsaKey.PublicKey)) + `}}`)
	if err != nil {
		t.Fatal(err)
	}
	ki, found, err := known.KnownIssuer(f.ctx, iss)
	if err != nil || !found || !ki.Hosted || len(ki.Keys.Keys) != 1 || ki.Keys.Keys[0].Kty != "RSA" || ki.Keys.Keys[0].Kid == "" {
		t.Fatalf("the hosted issuer after an upload: %+v %v %v; %s", ki, found, err, r.Properties)
	}

	// Once enabled, the issuer stays, at the same URL, whatever else
	// changes.
	_, err = patch(`{"oidcIssuerProfile":{"enabled":false}}`)
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	r = f.mustPut(contributor, cluster, "", `{"kubernetesVersion":"1.31.1","oidcIssuerProfile":{"enabled":true}}`, "", false)
	if profile(r)["issuerURL"] != iss || profile(r)["serviceAccountKeys"] == nil || get(f.fields(r.Properties), "securityProfile", "workloadIdentity", "enabled") != true {
		t.Fatalf("after a PUT: %s", r.Properties)
	}
	r, err = patch(`{"securityProfile":{"workloadIdentity":{"enabled":false}}}`)
	if err != nil || get(f.fields(r.Properties), "securityProfile", "workloadIdentity", "enabled") != false || profile(r)["enabled"] != true {
		t.Fatalf("disabling workload identity: %s %v", r.Properties, err)
	}

	// The API server's own issuer, with the cluster's CA.
	ca := caPEM(t)
	for name, ai := range map[string]string{
		"plain http":       `{"url":"http://10.0.0.1:6443"}`,
		"a query":          `{"url":"https://10.0.0.1:6443/?x=1"}`,
		"a CA that is not": `{"url":"https://10.0.0.1:6443","caCertificates":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}`,
		"not PEM":          `{"url":"https://10.0.0.1:6443","caCertificates":"hello"}`,
		"too many CAs":     `{"url":"https://10.0.0.1:6443","caCertificates":` + quote(strings.Repeat(ca, 17)) + `}`,
	} {
		_, err := patch(`{"oidcIssuerProfile":{"apiServerIssuer":` + ai + `}}`)
		f.wantErr(err, controlplane.ErrBadRequest, "InvalidParameter")
		if !strings.Contains(err.Error(), "apiServerIssuer") {
			t.Errorf("%s: %v", name, err)
		}
	}
	const own = "https://10.0.0.1:6443"
	if _, err := patch(`{"oidcIssuerProfile":{"apiServerIssuer":{"url":"` + own + `","caCertificates":` + quote(ca) + `}}}`); err != nil {
		t.Fatal(err)
	}
	if ki, found, err := known.KnownIssuer(f.ctx, own); err != nil || !found || ki.Hosted || len(ki.CAs) != 1 || ki.CAs[0].Subject.CommonName != "cluster CA" {
		t.Fatalf("the API server's issuer: %+v %v %v", ki, found, err)
	}
	if _, found, _ := known.KnownIssuer(f.ctx, own+"/"); found {
		t.Error("an issuer is known by another URL than its own")
	}
	// Another cluster may not name the same issuer.
	other := group + "/providers/Microsoft.ContainerService/managedClusters/other"
	_, _, err = f.put(contributor, other, "", `{"oidcIssuerProfile":{"apiServerIssuer":{"url":"`+own+`"}}}`, `{"type":"SystemAssigned"}`)
	f.wantErr(err, controlplane.ErrConflict, "Conflict")
	// Moved, the old URL is released.
	if _, err := patch(`{"oidcIssuerProfile":{"apiServerIssuer":{"url":"https://10.0.0.2:6443"}}}`); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := known.KnownIssuer(f.ctx, own); found {
		t.Error("the API server's old issuer is still known")
	}
	f.mustPut(contributor, other, "", `{"oidcIssuerProfile":{"apiServerIssuer":{"url":"`+own+`"}}}`, `{"type":"SystemAssigned"}`, true)

	// Deleted, the cluster's issuers are no one's.
	if found, err := f.cp.DeleteResource(f.ctx, contributor, f.id(cluster)); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	for _, u := range []string{iss, "https://10.0.0.2:6443"} {
		if _, found, err := known.KnownIssuer(f.ctx, u); found || err != nil {
			t.Errorf("%s after the cluster's deletion: %v %v", u, found, err)
		}
		if _, err := f.meta.GetClusterIssuer(f.ctx, u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s's record after the cluster's deletion: %v", u, err)
		}
	}
}
