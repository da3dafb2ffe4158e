package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/store"
)

// FederatedCredentialIn is what a caller gives to create or change a
// federated identity credential; a nil field is not given.
type FederatedCredentialIn struct {
	Name        *string
	Issuer      *string
	Subject     *string
	Audiences   *[]string
	Description *string
}

func checkFederated(f store.FederatedCredential) error {
	if err := federation.CheckCredential(f); err != nil {
		return invalid(err.Error())
	}
	return nil
}

// apply sets the fields given in n on f; no audiences means the default,
// the audience workload identity tokens carry.
func (n FederatedCredentialIn) apply(f *store.FederatedCredential) {
	for _, p := range []struct {
		from *string
		to   *string
	}{{n.Name, &f.Name}, {n.Issuer, &f.Issuer}, {n.Subject, &f.Subject}, {n.Description, &f.Description}} {
		if p.from != nil {
			*p.to = *p.from
		}
	}
	if n.Audiences != nil {
		f.Audiences = *n.Audiences
	}
	if len(f.Audiences) == 0 {
		f.Audiences = []string{federation.DefaultAudience}
	}
}

// FederatedCredentials lists an application's federated identity
// credentials; anyone in its tenant may read them, as the application.
func (s *Service) FederatedCredentials(ctx context.Context, c Caller, objectID string) ([]store.FederatedCredential, error) {
	a, err := s.GetApplication(ctx, c, objectID)
	if err != nil {
		return nil, err
	}
	return s.Directory.ListFederatedCredentials(ctx, a.ObjectID)
}

// FederatedCredential finds one of an application's federated identity
// credentials by id or, in any letter case, by name.
func (s *Service) FederatedCredential(ctx context.Context, c Caller, objectID, idOrName string) (store.FederatedCredential, error) {
	all, err := s.FederatedCredentials(ctx, c, objectID)
	if err != nil {
		return store.FederatedCredential{}, err
	}
	return findFederated(all, idOrName)
}

func findFederated(all []store.FederatedCredential, idOrName string) (store.FederatedCredential, error) {
	for _, f := range all {
		if f.ID == idOrName {
			return f, nil
		}
	}
	for _, f := range all {
		if strings.EqualFold(f.Name, idOrName) {
			return f, nil
		}
	}
	return store.FederatedCredential{}, ErrNotFound
}

// CreateFederatedCredential adds a federated identity credential to an
// application; administrators and its owners may.
func (s *Service) CreateFederatedCredential(ctx context.Context, c Caller, objectID string, n FederatedCredentialIn) (f store.FederatedCredential, err error) {
	defer func() {
		s.record(ctx, c, opCredentials, objectID, audit.Done(err, "federated credential "+federatedSummary(f)+" added"), err)
	}()
	a, err := s.GetApplication(ctx, c, objectID)
	if err != nil {
		return store.FederatedCredential{}, err
	}
	if err := s.authorizeOwner(ctx, c, a); err != nil {
		return store.FederatedCredential{}, err
	}
	f = store.FederatedCredential{ID: ids.New(), OwnerObjectID: a.ObjectID}
	n.apply(&f)
	if err := checkFederated(f); err != nil {
		return store.FederatedCredential{}, err
	}
	err = s.Directory.CreateFederatedCredential(ctx, f, federation.MaxCredentials)
	switch {
	case errors.Is(err, store.ErrExists):
		return store.FederatedCredential{}, conflict("FederatedIdentityCredential with name " + f.Name + " already exists.")
	case errors.Is(err, store.ErrLimit):
		return store.FederatedCredential{}, invalid(fmt.Sprintf("An application may have at most %d federated identity credentials.", federation.MaxCredentials))
	}
	return f, notFound(err)
}

// UpdateFederatedCredential changes a federated identity credential's
// issuer, subject, audiences or description; its name is fixed once
// created, as in the cloud.
func (s *Service) UpdateFederatedCredential(ctx context.Context, c Caller, objectID, idOrName string, n FederatedCredentialIn) (err error) {
	var f store.FederatedCredential
	defer func() {
		s.record(ctx, c, opCredentials, objectID, audit.Done(err, "federated credential "+federatedSummary(f)+" changed"), err)
	}()
	f, err = s.federatedToChange(ctx, c, objectID, idOrName)
	if err != nil {
		return err
	}
	if n.Name != nil && !strings.EqualFold(*n.Name, f.Name) {
		return invalid("Property name cannot be changed.")
	}
	n.Name = nil
	n.apply(&f)
	if err := checkFederated(f); err != nil {
		return err
	}
	return notFound(s.Directory.UpdateFederatedCredential(ctx, f))
}

// federatedToChange finds one of an application's federated identity
// credentials for a caller who may change them; the right is checked
// first, so that others do not learn which names exist.
func (s *Service) federatedToChange(ctx context.Context, c Caller, objectID, idOrName string) (store.FederatedCredential, error) {
	a, err := s.GetApplication(ctx, c, objectID)
	if err != nil {
		return store.FederatedCredential{}, err
	}
	if err := s.authorizeOwner(ctx, c, a); err != nil {
		return store.FederatedCredential{}, err
	}
	all, err := s.Directory.ListFederatedCredentials(ctx, a.ObjectID)
	if err != nil {
		return store.FederatedCredential{}, err
	}
	return findFederated(all, idOrName)
}

// DeleteFederatedCredential removes a federated identity credential;
// administrators and the application's owners may.
func (s *Service) DeleteFederatedCredential(ctx context.Context, c Caller, objectID, idOrName string) (err error) {
	var f store.FederatedCredential
	defer func() {
		s.record(ctx, c, opCredentials, objectID, audit.Done(err, "federated credential "+federatedSummary(f)+" removed"), err)
	}()
	f, err = s.federatedToChange(ctx, c, objectID, idOrName)
	if err != nil {
		return err
	}
	return notFound(s.Directory.DeleteFederatedCredential(ctx, f.OwnerObjectID, f.ID))
}

type federatedJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Issuer      string   `json:"issuer"`
	Subject     string   `json:"subject"`
	Audiences   []string `json:"audiences"`
	Description *string  `json:"description"`
}

func federatedOut(f store.FederatedCredential) federatedJSON {
	out := federatedJSON{ID: f.ID, Name: f.Name, Issuer: f.Issuer, Subject: f.Subject, Audiences: f.Audiences}
	if f.Description != "" {
		out.Description = &f.Description
	}
	return out
}

func decodeFederated(r *http.Request) (FederatedCredentialIn, error) {
	var in struct {
		Name        *string   `json:"name"`
		Issuer      *string   `json:"issuer"`
		Subject     *string   `json:"subject"`
		Audiences   *[]string `json:"audiences"`
		Description *string   `json:"description"`
	}
	err := decode(r, &in)
	return FederatedCredentialIn(in), err
}

func (h *Handler) listFederatedCredentials(w http.ResponseWriter, r *http.Request, c Caller) error {
	all, err := h.Service.FederatedCredentials(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]federatedJSON, 0, len(all))
	for _, f := range all {
		out = append(out, federatedOut(f))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (h *Handler) getFederatedCredential(w http.ResponseWriter, r *http.Request, c Caller) error {
	f, err := h.Service.FederatedCredential(r.Context(), c, r.PathValue("id"), r.PathValue("fic"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, federatedOut(f))
}

func (h *Handler) createFederatedCredential(w http.ResponseWriter, r *http.Request, c Caller) error {
	in, err := decodeFederated(r)
	if err != nil {
		return err
	}
	f, err := h.Service.CreateFederatedCredential(r.Context(), c, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, federatedOut(f))
}

func (h *Handler) updateFederatedCredential(w http.ResponseWriter, r *http.Request, c Caller) error {
	in, err := decodeFederated(r)
	if err != nil {
		return err
	}
	if err := h.Service.UpdateFederatedCredential(r.Context(), c, r.PathValue("id"), r.PathValue("fic"), in); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) deleteFederatedCredential(w http.ResponseWriter, r *http.Request, c Caller) error {
	if err := h.Service.DeleteFederatedCredential(r.Context(), c, r.PathValue("id"), r.PathValue("fic")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
