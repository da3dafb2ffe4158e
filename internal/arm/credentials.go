package arm

import (
	"net/http"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourceid"
)

// listCredentials serves POST {registry}/listCredentials: the admin
// user's name and password names.
func (h *Handler) listCredentials(w http.ResponseWriter, r *http.Request, c controlplane.Caller, id resourceid.ID) error {
	creds, err := h.Service.ListRegistryCredentials(r.Context(), c, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, creds)
}

// regenerateCredential serves POST {registry}/regenerateCredential with
// {"name":"password"|"password2"}: the new password, shown once.
func (h *Handler) regenerateCredential(w http.ResponseWriter, r *http.Request, c controlplane.Caller, id resourceid.ID) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	creds, err := h.Service.RegenerateRegistryCredential(r.Context(), c, id, in.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, creds)
}
