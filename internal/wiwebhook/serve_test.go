package wiwebhook

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/pki"
)

// writePair writes a certificate of a fresh CA as PEM files, as a
// mounted Secret holds them.
func writePair(t *testing.T, certFile, keyFile string, at time.Time) *x509.Certificate {
	t.Helper()
	cert, err := pki.Ensure(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, at, at); err != nil {
			t.Fatal(err)
		}
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	return leaf
}

func TestServingCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	var logs bytes.Buffer
	k := &keyPair{certFile: certFile, keyFile: keyFile, log: slog.New(slog.NewTextHandler(&logs, nil))}
	if _, err := k.get(nil); err == nil {
		t.Fatal("no files: no error")
	}

	first := writePair(t, certFile, keyFile, time.Unix(1e9, 0))
	served := func() *x509.Certificate {
		t.Helper()
		c, err := k.get(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		return leaf
	}
	if !served().Equal(first) {
		t.Fatal("not the certificate written")
	}
	second := writePair(t, certFile, keyFile, time.Unix(2e9, 0))
	if !served().Equal(second) {
		t.Fatal("the renewed certificate is not served")
	}
	// A renewal half written (a key without its certificate) keeps the
	// certificate in use, and is read once complete.
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	if !served().Equal(second) || !strings.Contains(logs.String(), "keeping the one in use") {
		t.Fatalf("a bad key replaced the certificate; log %s", logs.String())
	}
	third := writePair(t, certFile, keyFile, time.Unix(3e9, 0))
	if !served().Equal(third) {
		t.Fatal("the complete renewal is not served")
	}
}
