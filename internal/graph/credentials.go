package graph

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/sts"
)

// ApplicationPatch is what PATCH applications/{id} may change; a nil field
// stays as it is.
type ApplicationPatch struct {
	DisplayName     *string
	WebRedirectURIs *[]string
	// KeyCredentials replaces the application's certificates as a whole,
	// as in the cloud: to keep one, name its keyId.
	KeyCredentials *[]KeyCredentialIn
}

// KeyCredentialIn is one entry of a PATCH's keyCredentials: a certificate
// to add (Key set) or, with only KeyID, a present one to keep.
type KeyCredentialIn struct {
	KeyID       string
	DisplayName string
	Type        string
	Usage       string
	// Key is the DER certificate in standard base64.
	Key *string
}

// UpdateApplication applies a PATCH to an application. Administrators and
// the application's owners may. Everything is checked before anything
// changes, so a bad certificate leaves the application as it was.
func (s *Service) UpdateApplication(ctx context.Context, c Caller, objectID string, p ApplicationPatch) (err error) {
	defer func() {
		op := opUpdateApplication
		if p.KeyCredentials != nil {
			op = opCredentials
		}
		s.record(ctx, c, op, objectID, audit.Done(err, listed("changed ", given(p.DisplayName != nil, "displayName"),
			given(p.WebRedirectURIs != nil, "redirectUris"), given(p.KeyCredentials != nil, "keyCredentials"))), err)
	}()
	a, err := s.GetApplication(ctx, c, objectID)
	if err != nil {
		return err
	}
	if err := s.authorizeOwner(ctx, c, a); err != nil {
		return err
	}
	if p.DisplayName != nil {
		if strings.TrimSpace(*p.DisplayName) == "" {
			return invalid("Property displayName cannot be empty.")
		}
		a.DisplayName = *p.DisplayName
	}
	if p.WebRedirectURIs != nil {
		if err := checkRedirectURIs(*p.WebRedirectURIs); err != nil {
			return err
		}
		a.WebRedirectURIs = *p.WebRedirectURIs
		if len(a.WebRedirectURIs) == 0 {
			a.WebRedirectURIs = nil
		}
	}
	if p.KeyCredentials != nil {
		keep, add, err := s.keyCredentialChange(ctx, a, *p.KeyCredentials)
		if err != nil {
			return err
		}
		err = s.Directory.ReplaceKeyCredentials(ctx, a.ObjectID, keep, add)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Checked above; only a concurrent change gets here.
			return invalid("The application's key credentials changed during the update; read them again.")
		case errors.Is(err, store.ErrExists):
			return conflict("Another key credential with the same keyId exists.")
		case err != nil:
			return err
		}
	}
	if p.DisplayName != nil || p.WebRedirectURIs != nil {
		return notFound(s.Directory.UpdateApplication(ctx, a))
	}
	return nil
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// keyCredentialChange turns a PATCH's keyCredentials into the key ids to
// keep and the credentials to add.
func (s *Service) keyCredentialChange(ctx context.Context, a store.Application, in []KeyCredentialIn) ([]string, []store.KeyCredential, error) {
	present, err := s.Directory.ListKeyCredentials(ctx, a.ObjectID)
	if err != nil {
		return nil, nil, err
	}
	known := map[string]bool{}
	for _, k := range present {
		known[k.KeyID] = true
	}
	seen := map[string]bool{}
	var keep []string
	var add []store.KeyCredential
	for i, k := range in {
		at := fmt.Sprintf("keyCredentials[%d]", i)
		if k.KeyID != "" {
			if seen[strings.ToLower(k.KeyID)] {
				return nil, nil, invalid(at + ": keyId " + k.KeyID + " appears more than once.")
			}
			seen[strings.ToLower(k.KeyID)] = true
		}
		if k.Key == nil {
			if k.KeyID == "" {
				return nil, nil, invalid(at + ": either key (a new certificate) or keyId (a present one to keep) is required.")
			}
			if !known[k.KeyID] {
				return nil, nil, invalid(at + ": no key credential found with keyId " + k.KeyID + ".")
			}
			keep = append(keep, k.KeyID)
			continue
		}
		if k.Type != "" && k.Type != store.KeyTypeX509Cert {
			return nil, nil, invalid(at + ": type must be " + store.KeyTypeX509Cert + ", the only kind accepted.")
		}
		if k.Usage != "" && k.Usage != store.KeyUsageVerify {
			return nil, nil, invalid(at + ": usage must be " + store.KeyUsageVerify + ", the only kind accepted.")
		}
		if k.KeyID != "" && !guidPattern.MatchString(k.KeyID) {
			return nil, nil, invalid(at + ": keyId must be a GUID.")
		}
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(*k.Key))
		if err != nil || len(der) == 0 {
			return nil, nil, invalid(at + ": key is not a base64-encoded certificate.")
		}
		cred, err := sts.NewKeyCredential(a.ObjectID, k.DisplayName, der)
		if err != nil {
			return nil, nil, invalid(at + ": key is not a usable certificate: " + err.Error() + ".")
		}
		if k.KeyID != "" {
			cred.KeyID = strings.ToLower(k.KeyID)
		}
		add = append(add, cred)
	}
	return keep, add, nil
}

// KeyCredentials lists an application's certificates.
func (s *Service) KeyCredentials(ctx context.Context, a store.Application) ([]store.KeyCredential, error) {
	return s.Directory.ListKeyCredentials(ctx, a.ObjectID)
}

type keyCredentialJSON struct {
	CustomKeyIdentifier string    `json:"customKeyIdentifier"`
	DisplayName         string    `json:"displayName"`
	EndDateTime         time.Time `json:"endDateTime"`
	// Key is always null: the certificate is not given back, as in the
	// cloud unless asked for with $select.
	Key           *string   `json:"key"`
	KeyID         string    `json:"keyId"`
	StartDateTime time.Time `json:"startDateTime"`
	Type          string    `json:"type"`
	Usage         string    `json:"usage"`
}

func keyCredentialOut(k store.KeyCredential) keyCredentialJSON {
	// The cloud's customKeyIdentifier of an uploaded certificate is its
	// SHA-1 thumbprint, which is how clients match it to a local file.
	sum := sha1.Sum(k.Certificate)
	return keyCredentialJSON{
		CustomKeyIdentifier: base64.StdEncoding.EncodeToString(sum[:]), DisplayName: k.DisplayName,
		EndDateTime: k.EndDateTime, KeyID: k.KeyID, StartDateTime: k.StartDateTime, Type: k.Type, Usage: k.Usage,
	}
}

func (h *Handler) updateApplication(w http.ResponseWriter, r *http.Request, c Caller) error {
	var in struct {
		DisplayName    *string `json:"displayName"`
		SignInAudience *string `json:"signInAudience"`
		Web            *struct {
			RedirectURIs *[]string `json:"redirectUris"`
		} `json:"web"`
		KeyCredentials *[]struct {
			KeyID       string  `json:"keyId"`
			DisplayName string  `json:"displayName"`
			Type        string  `json:"type"`
			Usage       string  `json:"usage"`
			Key         *string `json:"key"`
		} `json:"keyCredentials"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.SignInAudience != nil {
		return invalid("Property signInAudience cannot be changed after the application is created.")
	}
	p := ApplicationPatch{DisplayName: in.DisplayName}
	if in.Web != nil {
		p.WebRedirectURIs = in.Web.RedirectURIs
	}
	if in.KeyCredentials != nil {
		keys := []KeyCredentialIn{}
		for _, k := range *in.KeyCredentials {
			keys = append(keys, KeyCredentialIn{KeyID: k.KeyID, DisplayName: k.DisplayName, Type: k.Type, Usage: k.Usage, Key: k.Key})
		}
		p.KeyCredentials = &keys
	}
	if err := h.Service.UpdateApplication(r.Context(), c, r.PathValue("id"), p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
