package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func pemOf(t *testing.T, typ string, key any) string {
	t.Helper()
	var der []byte
	var err error
	switch typ {
	case "PUBLIC KEY":
		der, err = x509.MarshalPKIXPublicKey(key)
	case "RSA PUBLIC KEY":
		der = x509.MarshalPKCS1PublicKey(key.(*rsa.PublicKey))
	case "PRIVATE KEY":
		der, err = x509.MarshalPKCS8PrivateKey(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// kubeKeyID is the key id a Kubernetes API server puts in its tokens.
func kubeKeyID(t *testing.T, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestParseKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	both := pemOf(t, "PUBLIC KEY", &rsaKey.PublicKey) + "\n" + pemOf(t, "PUBLIC KEY", &ecKey.PublicKey)
	set, err := ParseKeys([]byte(both))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != kubeKeyID(t, &rsaKey.PublicKey) || set.Keys[0].Alg != "RS256" ||
		set.Keys[1].Kid != kubeKeyID(t, &ecKey.PublicKey) || set.Keys[1].Alg != "ES256" || set.Keys[1].Use != "sig" {
		t.Fatalf("PEM keys read as %+v", set)
	}
	if again, err := ParseKeys([]byte(pemOf(t, "RSA PUBLIC KEY", &rsaKey.PublicKey) + both)); err != nil || len(again.Keys) != 2 {
		t.Errorf("the same key twice, in PKCS #1 and PKIX: %+v %v", again, err)
	}
	// A key set keeps its key ids.
	set, err = ParseKeys([]byte(jwksOf(rsaKey, "mine")))
	if err != nil || len(set.Keys) != 1 || set.Keys[0].Kid != "mine" {
		t.Fatalf("a key set: %+v %v", set, err)
	}

	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, in := range map[string]string{
		"a private key":             pemOf(t, "PRIVATE KEY", rsaKey),
		"a 1024-bit RSA key":        pemOf(t, "PUBLIC KEY", &small.PublicKey),
		"an EC key on P-384":        pemOf(t, "PUBLIC KEY", &p384.PublicKey),
		"a 1024-bit key in a set":   jwksOf(small, "small"),
		"an encryption key":         strings.Replace(jwksOf(rsaKey, "k"), `"use":"sig"`, `"use":"enc"`, 1),
		"too many keys":             strings.Repeat(pemOf(t, "PUBLIC KEY", &rsaKey.PublicKey), MaxUploadKeys+1),
		"text after the keys":       both + "trailing",
		"no keys":                   `{"keys":[]}`,
		"nothing":                   " \n",
		"two sets":                  jwksOf(rsaKey, "a") + jwksOf(rsaKey, "b"),
		"more than the size limit":  strings.Repeat(" ", MaxUploadBytes) + both,
		"a certificate request PEM": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
	} {
		if _, err := ParseKeys([]byte(in)); !errors.Is(err, ErrBadKeys) {
			t.Errorf("%s: %v, want ErrBadKeys", name, err)
		}
	}
}

type knownIssuers map[string]KnownIssuer

func (k knownIssuers) KnownIssuer(_ context.Context, iss string) (KnownIssuer, bool, error) {
	ki, ok := k[iss]
	return ki, ok, nil
}

// An issuer berth hosts is never fetched: its tokens verify with the
// keys berth holds, and one it holds no keys for is unreachable.
func TestHostedIssuer(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	const iss = "https://127.0.0.1:1/oidc/tenant/guid/"
	set, err := ParseKeys([]byte(pemOf(t, "PUBLIC KEY", &key.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	known := knownIssuers{iss: {Hosted: true, Keys: set}, iss + "bare/": {Hosted: true}}
	is := &Issuers{Known: known}
	ctx, now := context.Background(), time.Now()
	kid := kubeKeyID(t, &key.PublicKey)
	if c, err := is.Verify(ctx, signedBy(t, key, kid, iss), "tenant-a", now); err != nil || c.Issuer != iss {
		t.Fatalf("a token of a hosted issuer: %+v %v", c, err)
	}
	if _, err := is.Verify(ctx, signedBy(t, other, kid, iss), "tenant-a", now); !errors.Is(err, ErrSignature) {
		t.Errorf("signed by another key under the uploaded key's id: %v", err)
	}
	if _, err := is.Verify(ctx, signedBy(t, other, kubeKeyID(t, &other.PublicKey), iss), "tenant-a", now); !errors.Is(err, ErrSignature) {
		t.Errorf("signed by a key not uploaded: %v", err)
	}
	if _, err := is.Verify(ctx, signedBy(t, key, kid, iss+"bare/"), "tenant-a", now); !errors.Is(err, ErrIssuerUnreachable) {
		t.Errorf("a hosted issuer without keys: %v", err)
	}
	if _, err := is.Verify(ctx, signedBy(t, key, kid, iss), "tenant-a", now.Add(3*time.Hour)); !errors.Is(err, ErrTimeRange) {
		t.Errorf("an expired token of a hosted issuer: %v", err)
	}
}

// A cluster's own issuer, whose TLS certificate chains to the CA the
// cluster named: trusted for that issuer only.
func TestKnownIssuerCA(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" {
			fmt.Fprint(w, jwksOf(key, "k1"))
			return
		}
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL, srv.URL+"/keys")
	})
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ctx, now := context.Background(), time.Now()
	known := knownIssuers{}
	is := &Issuers{Roots: x509.NewCertPool(), Known: known}
	if _, err := is.Verify(ctx, signedBy(t, key, "k1", srv.URL), "tenant-a", now); !errors.Is(err, ErrIssuerUnreachable) {
		t.Fatalf("without the cluster's CA: %v", err)
	}
	// Named a moment after a failed fetch, the CA is used at once, for
	// credentials of the cluster's tenant only: another tenant's did not
	// choose to trust it.
	known[srv.URL] = KnownIssuer{CAs: []*x509.Certificate{srv.Certificate()}, TenantID: "tenant-a"}
	if _, err := is.Verify(ctx, signedBy(t, key, "k1", srv.URL), "tenant-a", now); err != nil {
		t.Fatalf("with the cluster's CA: %v", err)
	}
	fresh := &Issuers{Roots: x509.NewCertPool(), Known: known}
	if _, err := fresh.Verify(ctx, signedBy(t, key, "k1", srv.URL), "tenant-b", now); !errors.Is(err, ErrIssuerUnreachable) {
		t.Fatalf("another tenant's credential, with the cluster's CA: %v", err)
	}
	// The shared client did not learn the CA.
	if _, err := is.httpClient(nil).Get(srv.URL + "/keys"); err == nil {
		t.Error("the CA of one issuer is trusted for others")
	}
}
