package graph

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/store"
)

// selfSigned makes a DER certificate for key, valid from an hour ago for a
// day.
func selfSigned(t *testing.T, name string, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour).Truncate(time.Second), NotAfter: time.Now().Add(24 * time.Hour).Truncate(time.Second),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func rsaCert(t *testing.T, name string) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return selfSigned(t, name, key)
}

func TestKeyCredentials(t *testing.T) {
	f := newFixture(t,
		caller{id: "admin", roles: []string{store.RoleApplicationAdministrator}},
		caller{id: "owner"},
		caller{id: "plain"},
		caller{id: "admin2", tenant: "t2", roles: []string{store.RoleGlobalAdministrator}},
	)
	do := func(token, method, path, body string) call {
		t.Helper()
		c, _ := f.do(token, method, path, body)
		return c
	}
	app := do("admin", "POST", "/v1.0/applications", `{"displayName":"certs"}`).body["id"].(string)
	if c := do("admin", "POST", "/v1.0/applications/"+app+"/owners/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/owner"}`); c.status != 204 {
		t.Fatalf("add owner: %+v", c)
	}
	patch := func(token, body string) call {
		t.Helper()
		return do(token, "PATCH", "/v1.0/applications/"+app, body)
	}
	keys := func() []map[string]any {
		t.Helper()
		c := do("plain", "GET", "/v1.0/applications/"+app, "")
		if c.status != 200 {
			t.Fatalf("get: %+v", c)
		}
		var out []map[string]any
		for _, k := range c.body["keyCredentials"].([]any) {
			out = append(out, k.(map[string]any))
		}
		return out
	}
	keyIDs := func() string {
		t.Helper()
		var ids []string
		for _, k := range keys() {
			ids = append(ids, k["keyId"].(string))
		}
		return strings.Join(ids, ",")
	}
	if k := keys(); len(k) != 0 {
		t.Fatalf("a new application's key credentials: %v", k)
	}

	certA, certB, certC := rsaCert(t, "a"), rsaCert(t, "b"), rsaCert(t, "c")
	b64 := base64.StdEncoding.EncodeToString
	if c := patch("owner", `{"keyCredentials":[{"type":"AsymmetricX509Cert","usage":"Verify","key":"`+b64(certA)+`","displayName":"first"}]}`); c.status != 204 {
		t.Fatalf("an owner uploading a certificate: %+v", c)
	}
	k := keys()
	if len(k) != 1 {
		t.Fatalf("key credentials: %v", k)
	}
	parsed, _ := x509.ParseCertificate(certA)
	sum := sha1.Sum(certA)
	if v, present := k[0]["key"]; !present || v != nil {
		t.Errorf("key = %v (present %v), want null", v, present)
	}
	want := map[string]any{
		"customKeyIdentifier": b64(sum[:]), "displayName": "first", "type": "AsymmetricX509Cert", "usage": "Verify",
		"startDateTime": parsed.NotBefore.UTC().Format(time.RFC3339), "endDateTime": parsed.NotAfter.UTC().Format(time.RFC3339),
	}
	for field, v := range want {
		if k[0][field] != v {
			t.Errorf("%s = %v, want %v", field, k[0][field], v)
		}
	}
	idA := k[0]["keyId"].(string)
	if !guidPattern.MatchString(idA) {
		t.Errorf("keyId %q", idA)
	}
	// The token service finds the certificate by its thumbprint.
	stored, err := f.meta.ListKeyCredentials(t.Context(), app)
	if err != nil || len(stored) != 1 || string(stored[0].Certificate) != string(certA) || stored[0].Thumbprint != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("stored: %+v, %v", stored, err)
	}

	// Keep A by its keyId, add B with a keyId the client chose (as the
	// cloud CLI does), then replace both by C.
	const idB = "6c0d4a8e-5b57-4d3c-9a8e-3f4b2a1c0d9e"
	if c := patch("admin", `{"keyCredentials":[{"keyId":"`+idA+`","key":null},{"keyId":"`+idB+`","key":"`+b64(certB)+`"}]}`); c.status != 204 {
		t.Fatalf("append: %+v", c)
	}
	if got := keyIDs(); got != idA+","+idB && got != idB+","+idA {
		t.Fatalf("after keeping A and adding B: %s", got)
	}
	for _, k := range keys() {
		if k["keyId"] == idB && k["displayName"] != "CN=b" {
			t.Errorf("a certificate without a display name is named %v, want its subject", k["displayName"])
		}
	}
	if c := patch("owner", `{"keyCredentials":[{"key":"`+b64(certC)+`"}]}`); c.status != 204 {
		t.Fatalf("replace: %+v", c)
	}
	k = keys()
	if len(k) != 1 || k[0]["displayName"] != "CN=c" {
		t.Fatalf("after replacing: %v", k)
	}
	idC := k[0]["keyId"].(string)

	// Bad input is refused with a reason, and changes nothing, not even
	// the valid entries next to it.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecCert := selfSigned(t, "ec", ecKey)
	good := `{"key":"` + b64(certA) + `"}`
	for what, tc := range map[string]struct{ body, msg string }{
		"bad base64":         {`{"keyCredentials":[` + good + `,{"key":"not base64!"}]}`, "not a base64-encoded certificate"},
		"empty key":          {`{"keyCredentials":[{"key":""}]}`, "not a base64-encoded certificate"},
		"not a certificate":  {`{"keyCredentials":[{"key":"` + b64([]byte("hello, world")) + `"}]}`, "not a usable certificate"},
		"non-RSA key":        {`{"keyCredentials":[` + good + `,{"key":"` + b64(ecCert) + `"}]}`, "not an RSA key"},
		"unknown keyId":      {`{"keyCredentials":[` + good + `,{"keyId":"` + idA + `"}]}`, "no key credential found with keyId " + idA},
		"neither":            {`{"keyCredentials":[{"displayName":"x"}]}`, "either key"},
		"another type":       {`{"keyCredentials":[{"type":"Symmetric","key":"` + b64(certA) + `"}]}`, "type must be AsymmetricX509Cert"},
		"another usage":      {`{"keyCredentials":[{"usage":"Sign","key":"` + b64(certA) + `"}]}`, "usage must be Verify"},
		"keyId not a GUID":   {`{"keyCredentials":[{"keyId":"k1","key":"` + b64(certA) + `"}]}`, "keyId must be a GUID"},
		"keyId twice":        {`{"keyCredentials":[{"keyId":"` + idC + `"},{"keyId":"` + idC + `"}]}`, "appears more than once"},
		"signInAudience":     {`{"signInAudience":"AzureADMultipleOrgs","keyCredentials":[]}`, "signInAudience cannot be changed"},
		"empty display name": {`{"displayName":" ","keyCredentials":[]}`, "displayName cannot be empty"},
		"bad redirect URI":   {`{"web":{"redirectUris":["http://example.com/cb"]},"keyCredentials":[]}`, "redirectUris"},
		// Look-alikes of loopback that a prefix check let through.
		"localhost suffix":      {`{"web":{"redirectUris":["http://localhost.evil.example/"]},"keyCredentials":[]}`, "redirectUris"},
		"127.0.0.1 suffix":      {`{"web":{"redirectUris":["http://127.0.0.1.evil.example/"]},"keyCredentials":[]}`, "redirectUris"},
		"localhost as userinfo": {`{"web":{"redirectUris":["http://localhost@evil.example/"]},"keyCredentials":[]}`, "redirectUris"},
		"userinfo on loopback":  {`{"web":{"redirectUris":["http://evil.example@127.0.0.1/"]},"keyCredentials":[]}`, "redirectUris"},
		"localhost with port":   {`{"web":{"redirectUris":["http://localhost:80@evil.example/"]},"keyCredentials":[]}`, "redirectUris"},
		"malformed JSON":        {`{"keyCredentials":[`, "Unable to read JSON"},
	} {
		c := patch("owner", tc.body)
		e, _ := c.body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if c.status != 400 || errorCode(c) != "Request_BadRequest" || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %s %q, want 400 mentioning %q", what, c.status, errorCode(c), msg, tc.msg)
		}
		if got := keyIDs(); got != idC {
			t.Fatalf("%s changed the key credentials: %s", what, got)
		}
	}

	// Only administrators and owners, only in the application's tenant.
	for what, tc := range map[string]struct {
		c    call
		want int
	}{
		"a non-owner":         {patch("plain", `{"keyCredentials":[]}`), 403},
		"another tenant":      {patch("admin2", `{"keyCredentials":[]}`), 404},
		"unknown application": {do("admin", "PATCH", "/v1.0/applications/nope", `{"keyCredentials":[]}`), 404},
		"no token":            {patch("", `{"keyCredentials":[]}`), 401},
	} {
		if tc.c.status != tc.want {
			t.Errorf("%s: %+v, want %d", what, tc.c, tc.want)
		}
	}
	if got := keyIDs(); got != idC {
		t.Fatalf("refused callers changed the key credentials: %s", got)
	}

	// Other properties change without touching the certificates; an
	// empty array removes them all.
	if c := patch("owner", `{"displayName":"renamed","web":{"redirectUris":["https://a.example/cb","http://localhost:8400/cb","http://127.0.0.2/","http://[::1]/cb"]}}`); c.status != 204 {
		t.Fatalf("rename: %+v", c)
	}
	c := do("plain", "GET", "/v1.0/applications/"+app, "")
	if c.body["displayName"] != "renamed" || fmt.Sprint(c.body["web"].(map[string]any)["redirectUris"]) != "[https://a.example/cb http://localhost:8400/cb http://127.0.0.2/ http://[::1]/cb]" || keyIDs() != idC {
		t.Fatalf("after rename: %+v", c.body)
	}
	if c := patch("admin", `{"keyCredentials":[]}`); c.status != 204 || len(keys()) != 0 {
		t.Fatalf("remove all: %+v, %v", c, keys())
	}
}
