package arm

import (
	"net/http"
	"strings"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

type federatedJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		Issuer    string   `json:"issuer"`
		Subject   string   `json:"subject"`
		Audiences []string `json:"audiences"`
	} `json:"properties"`
}

// federatedOut shows a credential as the child resource it is of the
// identity.
func federatedOut(identity resourceid.ID, f store.FederatedCredential) federatedJSON {
	id := identity
	id.Types = append(append([]string(nil), identity.Types...), "federatedIdentityCredentials")
	id.Names = append(append([]string(nil), identity.Names...), f.Name)
	out := federatedJSON{ID: id.String(), Name: f.Name, Type: resourcetype.FederatedIdentityCredential}
	out.Properties.Issuer, out.Properties.Subject, out.Properties.Audiences = f.Issuer, f.Subject, f.Audiences
	return out
}

// childResource serves a child resource: berth's only one is a
// user-assigned identity's federated identity credential.
func (h *Handler) childResource(w http.ResponseWriter, r *http.Request, c controlplane.Caller, id resourceid.ID) error {
	if !strings.EqualFold(id.Type(), resourcetype.FederatedIdentityCredential) {
		return notSupported(r)
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodPut:
		var in struct {
			Properties struct {
				Issuer    string   `json:"issuer"`
				Subject   string   `json:"subject"`
				Audiences []string `json:"audiences"`
			} `json:"properties"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		f, created, err := h.Service.PutFederatedCredential(ctx, c, id, controlplane.FederatedCredentialInput(in.Properties))
		if err != nil {
			return err
		}
		return writeJSON(w, createdOr(created), federatedOut(id.Parent(), f))
	case http.MethodGet:
		f, err := h.Service.GetFederatedCredential(ctx, c, id)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, federatedOut(id.Parent(), f))
	case http.MethodDelete:
		found, err := h.Service.DeleteFederatedCredential(ctx, c, id)
		return deleted(w, found, err)
	}
	return methodNotAllowed(r)
}

// childCollection lists a resource's children of one type.
func (h *Handler) childCollection(w http.ResponseWriter, r *http.Request, c controlplane.Caller, parent resourceid.ID, typ string) error {
	if !strings.EqualFold(parent.Type()+"/"+typ, resourcetype.FederatedIdentityCredential) {
		return notSupported(r)
	}
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	all, err := h.Service.ListFederatedCredentials(r.Context(), c, parent)
	if err != nil {
		return err
	}
	out := make([]federatedJSON, 0, len(all))
	for _, f := range all {
		out = append(out, federatedOut(parent, f))
	}
	return list(w, out)
}
