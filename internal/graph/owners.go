package graph

import (
	"context"
	"errors"
	"net/http"

	"github.com/berthhq/berth/internal/store"
)

// Owners of an application may manage its credentials without holding a
// directory role, so that a team can rotate its own application's secrets
// without asking an administrator. Everything else about the application
// stays with administrators.

// Principal is a user or a service principal of the caller's tenant;
// exactly one field is set.
type Principal struct {
	User             *store.User
	ServicePrincipal *store.ServicePrincipal
}

// GetPrincipal finds a user or service principal of the caller's tenant by
// object id.
func (s *Service) GetPrincipal(ctx context.Context, c Caller, objectID string) (Principal, error) {
	u, err := s.GetUser(ctx, c, objectID)
	if err == nil {
		return Principal{User: &u}, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Principal{}, err
	}
	sp, err := s.GetServicePrincipal(ctx, c, objectID)
	if err != nil {
		return Principal{}, err
	}
	return Principal{ServicePrincipal: &sp}, nil
}

// authorizeOwner is nil if the caller may manage application a's
// credentials and owners: an administrator, or one of its owners.
func (s *Service) authorizeOwner(ctx context.Context, c Caller, a store.Application) error {
	err := s.authorizeWrite(ctx, c)
	if !errors.Is(err, ErrForbidden) {
		return err
	}
	owner, err := s.Directory.IsApplicationOwner(ctx, a.ObjectID, c.ObjectID)
	if err != nil {
		return err
	}
	if !owner {
		return ErrForbidden
	}
	return nil
}

// ListApplicationOwners lists an application's owners. An owner that no
// longer resolves in the tenant is left out rather than failing the list.
func (s *Service) ListApplicationOwners(ctx context.Context, c Caller, objectID string) ([]Principal, error) {
	a, err := s.GetApplication(ctx, c, objectID)
	if err != nil {
		return nil, err
	}
	ids, err := s.Directory.ListApplicationOwners(ctx, a.ObjectID)
	if err != nil {
		return nil, err
	}
	out := []Principal{}
	for _, id := range ids {
		p, err := s.GetPrincipal(ctx, c, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// AddApplicationOwner makes a user or service principal of the caller's
// tenant an owner of an application. Owners may add owners, as in the
// cloud: ownership is already the right to hand out the credentials.
func (s *Service) AddApplicationOwner(ctx context.Context, c Caller, objectID, ownerID string) (err error) {
	defer func() { s.record(ctx, c, opAddOwner, objectID, "owner "+ownerID, err) }()
	a, err := s.GetApplication(ctx, c, objectID)
	if err != nil {
		return err
	}
	if err := s.authorizeOwner(ctx, c, a); err != nil {
		return err
	}
	if _, err := s.GetPrincipal(ctx, c, ownerID); err != nil {
		return err
	}
	already, err := s.Directory.IsApplicationOwner(ctx, a.ObjectID, ownerID)
	if err != nil {
		return err
	}
	if already {
		return invalid("One or more added object references already exist for the following modified properties: 'owners'.")
	}
	return notFound(s.Directory.AddApplicationOwner(ctx, a.ObjectID, ownerID))
}

func principalOut(p Principal) typed {
	if p.User != nil {
		return typed{"#microsoft.graph.user", userOut(*p.User)}
	}
	return typed{"#microsoft.graph.servicePrincipal", servicePrincipalOut(*p.ServicePrincipal)}
}

func (h *Handler) listApplicationOwners(w http.ResponseWriter, r *http.Request, c Caller) error {
	owners, err := h.Service.ListApplicationOwners(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]typed, 0, len(owners))
	for _, p := range owners {
		out = append(out, principalOut(p))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// addApplicationOwner is POST applications/{id}/owners/$ref with
// {"@odata.id": ".../directoryObjects/{objectId}"}.
func (h *Handler) addApplicationOwner(w http.ResponseWriter, r *http.Request, c Caller) error {
	if r.PathValue("ref") != "$ref" {
		return ErrNotFound
	}
	var in struct {
		ODataID string `json:"@odata.id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ownerID, err := directoryObjectID(in.ODataID)
	if err != nil {
		return err
	}
	if err := h.Service.AddApplicationOwner(r.Context(), c, r.PathValue("id"), ownerID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
