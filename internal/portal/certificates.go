package portal

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/web"
)

// certificate is a row of an application's certificates.
type certificate struct {
	store.KeyCredential
	// SHA1 is the thumbprint as people compare it with a local file's
	// (openssl x509 -fingerprint): SHA-1 of the DER, in hex.
	SHA1 string
}

func certificateRows(ks []store.KeyCredential) []certificate {
	rows := make([]certificate, 0, len(ks))
	for _, k := range ks {
		sum := sha1.Sum(k.Certificate)
		rows = append(rows, certificate{KeyCredential: k, SHA1: strings.ToUpper(hex.EncodeToString(sum[:]))})
	}
	return rows
}

// certificateDER is an uploaded certificate file's DER: the first
// CERTIFICATE block of a PEM file, or the file itself otherwise.
func certificateDER(raw []byte) []byte {
	for rest := raw; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return raw
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes
		}
	}
}

// keepCertificates is a PATCH's keyCredentials that keeps the
// application's certificates but drop, and adds add if given.
func (h *Handler) keepCertificates(r *http.Request, a store.Application, drop string, add *graph.KeyCredentialIn) ([]graph.KeyCredentialIn, bool, error) {
	present, err := h.Directory.KeyCredentials(r.Context(), a)
	if err != nil {
		return nil, false, err
	}
	var in []graph.KeyCredentialIn
	found := false
	for _, k := range present {
		if strings.EqualFold(k.KeyID, drop) {
			found = true
			continue
		}
		in = append(in, graph.KeyCredentialIn{KeyID: k.KeyID})
	}
	if add != nil {
		in = append(in, *add)
	}
	return in, found, nil
}

func (h *Handler) uploadCertificate(w http.ResponseWriter, r *http.Request, rq *request) error {
	v, err := h.application(r, rq)
	if err != nil {
		return err
	}
	description := strings.TrimSpace(r.PostForm.Get("certificate_description"))
	if len(description) > 100 {
		return h.showSecrets(w, r, rq, http.StatusBadRequest, nil, "", []web.FieldError{{Field: "certificate_description", Message: "Enter a description of at most 100 characters"}})
	}
	file, _, err := r.FormFile("certificate")
	if err != nil {
		return h.showSecrets(w, r, rq, http.StatusBadRequest, nil, "", []web.FieldError{{Field: "certificate", Message: "Choose a certificate file (.cer, .pem or .crt)"}})
	}
	raw, err := io.ReadAll(file)
	file.Close()
	if err != nil {
		return err
	}
	key := base64.StdEncoding.EncodeToString(certificateDER(raw))
	in, _, err := h.keepCertificates(r, v.App, "", &graph.KeyCredentialIn{DisplayName: description, Type: store.KeyTypeX509Cert, Usage: store.KeyUsageVerify, Key: &key})
	if err != nil {
		return err
	}
	err = h.Directory.UpdateApplication(r.Context(), rq.dir, v.App.ObjectID, graph.ApplicationPatch{KeyCredentials: &in})
	if errors.Is(err, graph.ErrBadRequest) {
		return h.showSecrets(w, r, rq, http.StatusBadRequest, nil, "", []web.FieldError{{Field: "certificate", Message: certificateProblem(err)}})
	}
	if err != nil {
		return refused(err, "Uploading a certificate to this application needs %s, or being one of its owners; your account is neither.", appWriters)
	}
	http.Redirect(w, r, v.Base+"/secrets?certificate=uploaded", http.StatusSeeOther)
	return nil
}

// certificateProblem is the directory's refusal of a certificate without
// the position in a PATCH the form did not show.
func certificateProblem(err error) string {
	msg := serviceMessage(err)
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "keyCredentials[") {
		msg = rest
	}
	return "The file is not a certificate the directory accepts: " + msg
}

func (h *Handler) deleteCertificate(w http.ResponseWriter, r *http.Request, rq *request) error {
	v, err := h.application(r, rq)
	if err != nil {
		return err
	}
	in, found, err := h.keepCertificates(r, v.App, r.PathValue("key"), nil)
	if err != nil {
		return err
	}
	if found {
		if err := h.Directory.UpdateApplication(r.Context(), rq.dir, v.App.ObjectID, graph.ApplicationPatch{KeyCredentials: &in}); err != nil {
			return refused(err, "Deleting a certificate of this application needs %s, or being one of its owners; your account is neither.", appWriters)
		}
	}
	http.Redirect(w, r, v.Base+"/secrets", http.StatusSeeOther)
	return nil
}
