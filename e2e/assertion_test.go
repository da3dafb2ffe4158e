package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/sts"
	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// withCertificate gives the bootstrap application a new self-signed
// certificate credential and returns its key and certificate.
//
// It stands in for the directory API, which does not exist yet (a later
// issue): the server is stopped, the credential is written into its real
// SQLite store (not a fake) and the server starts again on it.
func withCertificate(t *testing.T, s *berthtest.Server) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth e2e client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(s.DataDir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	app, err := db.GetApplicationByAppID(ctx, s.Boot.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := sts.NewKeyCredential(app.ObjectID, "", der)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddKeyCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	return key, cert
}

// TestAzidentityCertificateCredential: the cloud SDK's client certificate
// credential (MSAL Go underneath: PS256, x5t#S256) gets a token that a
// standard OIDC verifier accepts, marked as certificate-authenticated.
func TestAzidentityCertificateCredential(t *testing.T) {
	s := berthtest.Start(t)
	key, cert := withCertificate(t, s)
	ctx := context.Background()
	client := s.Client()
	cred, err := azidentity.NewClientCertificateCredential(s.Boot.TenantID, s.Boot.ClientID, []*x509.Certificate{cert}, key,
		&azidentity.ClientCertificateCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloudAt(s), Transport: client},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	const scope = "https://management.core.windows.net//.default"
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), s.URL+"/"+s.Boot.TenantID+"/")
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: strings.TrimSuffix(scope, "/.default")}).Verify(oidc.ClientContext(ctx, client), tok.Token)
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	var claims struct{ Tid, Appid, Appidacr, Idtyp string }
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Tid != s.Boot.TenantID || claims.Appid != s.Boot.ClientID || claims.Appidacr != "2" || claims.Idtyp != "app" {
		t.Errorf("claims %+v", claims)
	}
	// The secret still works next to the certificate.
	secretCred, err := azidentity.NewClientSecretCredential(s.Boot.TenantID, s.Boot.ClientID, s.Boot.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: cloudAt(s), Transport: client}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secretCred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}}); err != nil {
		t.Fatalf("secret after adding a certificate: %v", err)
	}
}

// TestAssertionAtTheWire posts hand-made assertions (RS256 with x5t, as
// the non-Go clients sign them) to both endpoint versions, and checks the
// cloud's error answers for the ways an assertion goes wrong.
func TestAssertionAtTheWire(t *testing.T) {
	s := berthtest.Start(t)
	key, cert := withCertificate(t, s)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tid, cid := s.Boot.TenantID, s.Boot.ClientID
	s1 := sha1.Sum(cert.Raw)
	x5t := base64.RawURLEncoding.EncodeToString(s1[:])
	assertion := func(signer *rsa.PrivateKey, alg, aud string, exp time.Time) string {
		h, _ := json.Marshal(map[string]any{"alg": alg, "typ": "JWT", "x5t": x5t})
		c, _ := json.Marshal(map[string]any{"aud": aud, "iss": cid, "sub": cid, "jti": "e2e", "nbf": time.Now().Unix(), "exp": exp.Unix()})
		signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
		sum := sha256.Sum256([]byte(signing))
		sig, err := rsa.SignPKCS1v15(rand.Reader, signer, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		if alg == "none" {
			sig = nil
		}
		return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	v1, v2 := "/"+tid+"/oauth2/token", "/"+tid+"/oauth2/v2.0/token"
	form := func(a string) url.Values {
		return url.Values{
			"grant_type": {"client_credentials"}, "client_id": {cid}, "resource": {"https://management.azure.com/"},
			"scope":                 {"https://management.azure.com/.default"},
			"client_assertion_type": {sts.ClientAssertionType}, "client_assertion": {a},
		}
	}
	later := time.Now().Add(10 * time.Minute)
	for _, path := range []string{v1, v2} {
		resp, err := s.Client().PostForm(s.URL+path, form(assertion(key, "RS256", s.URL+path, later)))
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 200 || body["access_token"] == nil {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, body)
		}
	}
	badType := form(assertion(key, "RS256", s.URL+v2, later))
	badType.Set("client_assertion_type", "urn:example:other")
	cases := []struct {
		name   string
		form   url.Values
		status int
		err    string
		code   float64
	}{
		{"signed by another key", form(assertion(otherKey, "RS256", s.URL+v2, later)), 401, "invalid_client", 700027},
		{"alg none", form(assertion(key, "none", s.URL+v2, later)), 401, "invalid_client", 700027},
		{"expired", form(assertion(key, "RS256", s.URL+v2, time.Now().Add(-time.Hour))), 401, "invalid_client", 700024},
		{"another endpoint", form(assertion(key, "RS256", "https://login.microsoftonline.com/"+tid+"/oauth2/v2.0/token", later)), 401, "invalid_client", 700212},
		{"not a JWT", form("not-a-jwt"), 400, "invalid_request", 50027},
		{"other assertion type", badType, 400, "invalid_request", 900144},
	}
	for _, c := range cases {
		status, body := tokenError(t, s, v2, c.form)
		codes, _ := body["error_codes"].([]any)
		if status != c.status || body["error"] != c.err || len(codes) != 1 || codes[0] != c.code {
			t.Errorf("%s: %d %v", c.name, status, body)
		}
	}
}
