package portal

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/graph"
)

// selfSigned is a DER certificate of an RSA key (the only kind the
// directory takes), valid from an hour ago for a day.
func selfSigned(t *testing.T, name string) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	must(t, err)
	return der
}

// upload sends a multipart form with a file, as a browser's upload does,
// with the session's CSRF token unless the form says otherwise.
func (b *browser) upload(path string, fields url.Values, file string, content []byte) page {
	b.f.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if !fields.Has("csrf_token") {
		fields.Set("csrf_token", b.csrf)
	}
	for k, vs := range fields {
		for _, v := range vs {
			must(b.f.t, mw.WriteField(k, v))
		}
	}
	fw, err := mw.CreateFormFile("certificate", file)
	must(b.f.t, err)
	_, err = fw.Write(content)
	must(b.f.t, err)
	must(b.f.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, b.f.srv.URL+path, &body)
	must(b.f.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := b.c.Do(req)
	must(b.f.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	must(b.f.t, err)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func TestCertificates(t *testing.T) {
	f := newFixture(t)
	admin := f.browser()
	admin.signIn("admin@contoso.example")
	admin.get("/portal/apps/new")
	made := admin.post("/portal/apps/new", url.Values{"name": {"signer"}, "audience": {graph.AudienceMyOrg}})
	base := made.header.Get("Location")
	secrets := admin.get(base + "/secrets")
	wantPage(t, secrets, http.StatusOK, "No certificate has been uploaded", `enctype="multipart/form-data"`)
	apps, err := f.meta.ListApplications(t.Context(), f.tenant.ID)
	must(t, err)
	app := apps[0]

	der := selfSigned(t, "signer pem")
	pemFile := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	up := admin.upload(base+"/certificates", url.Values{"certificate_description": {"from pem"}}, "signer.pem", pemFile)
	if up.status != http.StatusSeeOther || up.header.Get("Location") != base+"/secrets?certificate=uploaded" {
		t.Fatalf("uploading a PEM certificate: %d %q\n%s", up.status, up.header.Get("Location"), up.body)
	}
	wantPage(t, admin.get(up.header.Get("Location")), http.StatusOK, "Certificate uploaded", "from pem", thumbprint(der))
	derTwo := selfSigned(t, "signer der")
	up = admin.upload(base+"/certificates", url.Values{}, "signer.cer", derTwo)
	if up.status != http.StatusSeeOther {
		t.Fatalf("uploading a DER certificate: %d\n%s", up.status, up.body)
	}
	kcs, err := f.meta.ListKeyCredentials(t.Context(), app.ObjectID)
	must(t, err)
	if len(kcs) != 2 {
		t.Fatalf("after two uploads: %d certificates", len(kcs))
	}
	listed := admin.get(base + "/secrets")
	wantPage(t, listed, http.StatusOK, thumbprint(der), thumbprint(derTwo), kcs[0].KeyID, kcs[1].KeyID)
	if strings.Contains(listed.body, "Certificate uploaded") {
		t.Fatal("the uploaded notice shows on a plain visit")
	}

	wantPage(t, admin.upload(base+"/certificates", url.Values{}, "key.pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")),
		http.StatusBadRequest, "not a certificate the directory accepts", `href="#certificate"`)
	forged := admin.upload(base+"/certificates", url.Values{"csrf_token": {"forged"}}, "signer.pem", pemFile)
	if forged.status != http.StatusForbidden {
		t.Fatalf("a forged upload: %d\n%s", forged.status, forged.body)
	}

	plain := f.browser()
	plain.signIn("user@contoso.example")
	plain.get(base + "/secrets")
	wantPage(t, plain.upload(base+"/certificates", url.Values{}, "signer.pem", pemFile), http.StatusForbidden, "Uploading a certificate to this application needs")
	wantPage(t, plain.post(base+"/certificates/"+kcs[0].KeyID+"/delete", url.Values{}), http.StatusForbidden, "Deleting a certificate")
	if kcs, _ := f.meta.ListKeyCredentials(t.Context(), app.ObjectID); len(kcs) != 2 {
		t.Fatalf("refused changes changed the certificates: %d", len(kcs))
	}

	del := admin.post(base+"/certificates/"+kcs[0].KeyID+"/delete", url.Values{})
	if del.status != http.StatusSeeOther {
		t.Fatalf("Delete: %d\n%s", del.status, del.body)
	}
	left, err := f.meta.ListKeyCredentials(t.Context(), app.ObjectID)
	must(t, err)
	if len(left) != 1 || left[0].KeyID != kcs[1].KeyID {
		t.Fatalf("after deleting %s: %+v", kcs[0].KeyID, left)
	}
}
