package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// clientCert is a self-signed certificate with its key, and its PEM.
type clientCert struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	pem  string
}

func newClientCert(t *testing.T, name string) clientCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
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
	return clientCert{key: key, cert: cert, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// TestCertificateCredentialCLI: a certificate uploaded with `ad app
// credential reset --cert` is what the cloud SDK's certificate credential
// signs with; a reset without --append replaces it, so the old one stops
// working at once, and --append keeps it.
func TestCertificateCredentialCLI(t *testing.T) {
	s := berthtest.Start(t)
	admin := adminCLI(t, s)
	appID := admin.run("ad", "app", "create", "--display-name", "cert-app", "--query", "appId", "-o", "tsv")
	admin.run("ad", "sp", "create", "--id", appID, "-o", "none")

	ctx := context.Background()
	token := func(c clientCert) error {
		t.Helper()
		cred, err := azidentity.NewClientCertificateCredential(s.Boot.TenantID, appID, []*x509.Certificate{c.cert}, c.key,
			&azidentity.ClientCertificateCredentialOptions{
				ClientOptions:            azcore.ClientOptions{Cloud: cloudAt(s), Transport: s.Client()},
				DisableInstanceDiscovery: true,
			})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
		return err
	}
	certs := func() string {
		t.Helper()
		return admin.run("ad", "app", "credential", "list", "--id", appID, "--cert", "--query", "sort([].displayName)", "-o", "tsv")
	}

	first, second, third := newClientCert(t, "first"), newClientCert(t, "second"), newClientCert(t, "third")
	file := filepath.Join(t.TempDir(), "first.pem")
	if err := os.WriteFile(file, []byte(first.pem), 0o600); err != nil {
		t.Fatal(err)
	}
	var out struct {
		AppID    string  `json:"appId"`
		Password *string `json:"password"`
		Tenant   string  `json:"tenant"`
	}
	if err := json.Unmarshal([]byte(admin.run("ad", "app", "credential", "reset", "--id", appID, "--cert", "@"+file)), &out); err != nil ||
		out.AppID != appID || out.Tenant != s.Boot.TenantID || out.Password != nil {
		t.Fatalf("credential reset --cert: %+v %v", out, err)
	}
	if err := token(first); err != nil {
		t.Fatalf("token with the uploaded certificate: %v", err)
	}
	if got := certs(); got != "CN=first" {
		t.Fatalf("certificates after the first upload: %q", got)
	}

	// The PEM text itself, without --append: the first certificate goes.
	admin.run("ad", "app", "credential", "reset", "--id", appID, "--cert", second.pem, "-o", "none")
	if err := token(first); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("token with a replaced certificate: %v", err)
	}
	if err := token(second); err != nil {
		t.Fatalf("token with the new certificate: %v", err)
	}
	admin.run("ad", "app", "credential", "reset", "--id", appID, "--cert", third.pem, "--append", "--display-name", "third one", "-o", "none")
	for _, c := range []clientCert{second, third} {
		if err := token(c); err != nil {
			t.Fatalf("token with %s after --append: %v", c.cert.Subject, err)
		}
	}
	if got := certs(); got != "CN=second\nthird one" {
		t.Fatalf("certificates after --append: %q", got)
	}
	if got := admin.run("ad", "app", "credential", "list", "--id", appID, "--query", "length(@)", "-o", "tsv"); got != "0" {
		t.Fatalf("credential list without --cert lists %s secrets", got)
	}

	// Bad input fails with a reason and leaves the certificates alone.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	ecDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ecKey.Public(), ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ecDER}))
	notCert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))
	for what, tc := range map[string]struct {
		args []string
		msg  string
	}{
		"missing file":       {[]string{"--cert", "@" + filepath.Join(t.TempDir(), "missing.pem")}, "no such file"},
		"not PEM or base64":  {[]string{"--cert", "hello"}, "neither a PEM certificate nor"},
		"PEM, not DER":       {[]string{"--cert", notCert}, "not a usable certificate"},
		"an ECDSA key":       {[]string{"--cert", ecPEM}, "not an RSA key"},
		"--years and --cert": {[]string{"--cert", first.pem, "--years", "2"}, "--years does not apply"},
		"unknown app":        {[]string{"--cert", first.pem, "--id", "00000000-0000-0000-0000-000000000001"}, "doesn't exist"},
	} {
		out, err := admin.try(append([]string{"ad", "app", "credential", "reset", "--id", appID}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.msg) {
			t.Errorf("%s: %v %q, want an error mentioning %q", what, err, out, tc.msg)
		}
	}
	if got := certs(); got != "CN=second\nthird one" {
		t.Fatalf("certificates after refused uploads: %q", got)
	}
}
