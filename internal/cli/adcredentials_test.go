package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCredentialCertificateDER(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "c"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	dir := t.TempDir()
	file := filepath.Join(dir, "both.pem")
	if err := os.WriteFile(file, append(keyPEM, certPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	for what, arg := range map[string]string{
		"PEM text":                string(certPEM),
		"a file, key first":       "@" + file,
		"base64 DER":              base64.StdEncoding.EncodeToString(der),
		"base64 DER with newline": base64.StdEncoding.EncodeToString(der) + "\n",
	} {
		got, err := certificateDER(arg)
		if err != nil || !bytes.Equal(got, der) {
			t.Errorf("%s: %v", what, err)
		}
	}
	for what, tc := range map[string]struct{ arg, msg string }{
		"only a key":   {string(keyPEM), "no CERTIFICATE block"},
		"garbage":      {"not a certificate", "neither a PEM certificate nor"},
		"missing file": {"@" + filepath.Join(dir, "missing.pem"), "no such file"},
	} {
		if _, err := certificateDER(tc.arg); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want an error mentioning %q", what, err, tc.msg)
		}
	}
}
