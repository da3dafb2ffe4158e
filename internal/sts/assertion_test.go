package sts

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/store"
)

const (
	testClientID = "3f1e2d4c-0000-4000-8000-000000000001"
	testAud      = "https://login.example/tenant/oauth2/v2.0/token"
)

// testCert makes a self-signed certificate and its key credential.
func testCert(t *testing.T) (*rsa.PrivateKey, *x509.Certificate, store.KeyCredential) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "assertion test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	cred, err := NewKeyCredential("app-object", "", der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, cred
}

func goodClaims(now time.Time) map[string]any {
	return map[string]any{
		"aud": testAud, "iss": testClientID, "sub": testClientID, "jti": "j1",
		"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
}

// makeAssertion signs header and claims as a client would. alg picks the
// signature; "none" leaves it empty and "HS256" keys HMAC with the
// certificate, as a forger holding only public material would.
func makeAssertion(t *testing.T, key *rsa.PrivateKey, cert *x509.Certificate, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	var sig []byte
	var err error
	switch header["alg"] {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "HS256":
		m := hmac.New(sha256.New, cert.Raw)
		m.Write([]byte(signing))
		sig = m.Sum(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyAssertion(t *testing.T) {
	key, cert, cred := testCert(t)
	otherKey, otherCert, _ := testCert(t)
	now := time.Now()
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	// MSAL Go: PS256 with a padded standard-base64 x5t#S256.
	msalGo := map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.StdEncoding.EncodeToString(s256[:])}
	rs256 := map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(s1[:])}
	with := func(k string, v any) map[string]any {
		c := goodClaims(now)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hdr := func(alg string) map[string]any {
		return map[string]any{"alg": alg, "x5t": rs256["x5t"]}
	}
	cases := []struct {
		name   string
		token  string
		want   error
		detail string
	}{
		{"PS256 x5t#S256", makeAssertion(t, key, cert, msalGo, goodClaims(now)), nil, ""},
		{"RS256 x5t", makeAssertion(t, key, cert, rs256, goodClaims(now)), nil, ""},
		{"aud array", makeAssertion(t, key, cert, rs256, with("aud", []string{"https://elsewhere/", testAud})), nil, ""},
		{"nbf a little ahead", makeAssertion(t, key, cert, rs256, with("nbf", now.Add(time.Minute).Unix())), nil, ""},
		{"signed by another key", makeAssertion(t, otherKey, otherCert, rs256, goodClaims(now)), ErrAssertionSignature, ""},
		{"unknown thumbprint", makeAssertion(t, otherKey, otherCert, map[string]any{"alg": "RS256", "x5t": "AAAA"}, goodClaims(now)), ErrAssertionKeyNotFound, "'AAAA'"},
		{"no thumbprint", makeAssertion(t, key, cert, map[string]any{"alg": "RS256"}, goodClaims(now)), ErrAssertionKeyNotFound, ""},
		{"expired", makeAssertion(t, key, cert, rs256, with("exp", now.Add(-10*time.Minute).Unix())), ErrAssertionTimeRange, "expiry time"},
		{"not yet valid", makeAssertion(t, key, cert, rs256, with("nbf", now.Add(10*time.Minute).Unix())), ErrAssertionTimeRange, ""},
		{"no exp", makeAssertion(t, key, cert, rs256, with("exp", nil)), ErrAssertionMalformed, ""},
		{"no jti", makeAssertion(t, key, cert, rs256, with("jti", nil)), ErrAssertionMalformed, ""},
		{"wrong aud", makeAssertion(t, key, cert, rs256, with("aud", "https://login.example/other/oauth2/v2.0/token")), ErrAssertionAudience, "other"},
		{"wrong iss", makeAssertion(t, key, cert, rs256, with("iss", "someone-else")), ErrAssertionIssuer, "someone-else"},
		{"wrong sub", makeAssertion(t, key, cert, rs256, with("sub", "someone-else")), ErrAssertionSubject, "someone-else"},
		{"alg none", makeAssertion(t, key, cert, hdr("none"), goodClaims(now)), ErrAssertionSignature, "'none'"},
		{"HS256 keyed with the certificate", makeAssertion(t, key, cert, hdr("HS256"), goodClaims(now)), ErrAssertionSignature, "'HS256'"},
		{"RS256 signature under a PS256 header", strings.Replace(makeAssertion(t, key, cert, rs256, goodClaims(now)), mustSeg(rs256), mustSeg(hdr("PS256")), 1), ErrAssertionSignature, ""},
		{"two parts", "a.b", ErrAssertionMalformed, ""},
		{"header not JSON", "bm90IGpzb24.e30.", ErrAssertionMalformed, ""},
	}
	for _, c := range cases {
		err := verifyAssertion(c.token, testClientID, []string{"https://login.example/tenant/oauth2/token", testAud}, []store.KeyCredential{cred}, now)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
			continue
		}
		if !strings.Contains(assertionDetail(err), c.detail) {
			t.Errorf("%s: detail %q, want it to mention %q", c.name, assertionDetail(err), c.detail)
		}
	}
}

func mustSeg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// A credential past its end date no longer verifies anything, even when
// the certificate in it is still valid.
func TestVerifyAssertionCredentialDates(t *testing.T) {
	key, cert, cred := testCert(t)
	now := time.Now()
	cred.EndDateTime = now.Add(-time.Minute)
	s256 := sha256.Sum256(cert.Raw)
	tok := makeAssertion(t, key, cert, map[string]any{"alg": "PS256", "x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:])}, goodClaims(now))
	if err := verifyAssertion(tok, testClientID, []string{testAud}, []store.KeyCredential{cred}, now); !errors.Is(err, ErrAssertionKeyNotFound) {
		t.Fatalf("expired credential: %v", err)
	}
}

func TestDecodeThumbprint(t *testing.T) {
	sum := sha1.Sum([]byte("cert"))
	for _, s := range []string{
		base64.RawURLEncoding.EncodeToString(sum[:]),
		base64.URLEncoding.EncodeToString(sum[:]),
		base64.StdEncoding.EncodeToString(sum[:]),
		strings.ToUpper(hex.EncodeToString(sum[:])),
	} {
		if got := decodeThumbprint(s); string(got) != string(sum[:]) {
			t.Errorf("decodeThumbprint(%q) = %x", s, got)
		}
	}
}
