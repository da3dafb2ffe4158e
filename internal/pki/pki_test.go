package pki

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureIssuesAndReuses(t *testing.T) {
	dir := t.TempDir()
	hosts := []string{"localhost", "127.0.0.1", "::1", "*.cr.localhost"}
	first, err := Ensure(dir, hosts)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt is not PEM")
	}
	leaf, _ := x509.ParseCertificate(first.Certificate[0])
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "myregistry.cr.localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("certificate does not verify for %s: %v", name, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, caKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v", fi.Mode().Perm())
	}
	again, err := Ensure(dir, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Certificate[0]) != string(first.Certificate[0]) {
		t.Error("certificate re-issued although nothing changed")
	}
	more, err := Ensure(dir, append(hosts, "berth.example"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(more.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "berth.example"}); err != nil {
		t.Errorf("new host not covered after re-issue: %v", err)
	}
}
