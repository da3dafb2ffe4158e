package graph

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// maxGetByIDs is the cloud's limit on ids in one getByIds call.
const maxGetByIDs = 1000

// getByIDs is POST directoryObjects/getByIds: the caller's tenant's
// objects among ids, of the asked types; unknown ids are left out, as the
// cloud does, which is how clients resolve principal ids to names.
func (h *Handler) getByIDs(w http.ResponseWriter, r *http.Request, c Caller) error {
	var in struct {
		IDs   []string `json:"ids"`
		Types []string `json:"types"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if len(in.IDs) > maxGetByIDs {
		return invalid("Too many ids: at most 1000 may be asked at once.")
	}
	want := map[string]bool{}
	for _, t := range in.Types {
		want[strings.ToLower(strings.TrimPrefix(t, "#microsoft.graph."))] = true
	}
	all := len(want) == 0
	out := []any{}
	for _, id := range in.IDs {
		if all || want["serviceprincipal"] {
			sp, err := h.Service.GetServicePrincipal(r.Context(), c, id)
			if err == nil {
				j := servicePrincipalOut(sp)
				out = append(out, typed{"#microsoft.graph.servicePrincipal", j})
				continue
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		if all || want["application"] {
			a, err := h.Service.GetApplication(r.Context(), c, id)
			if err == nil {
				j, err := h.applicationOut(r.Context(), a)
				if err != nil {
					return err
				}
				out = append(out, typed{"#microsoft.graph.application", j})
				continue
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// typed is a directory object with its @odata.type, as collections of
// mixed types carry it.
type typed struct {
	odataType string
	object    any
}

func (t typed) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(t.object)
	if err != nil || len(b) < 2 || b[0] != '{' {
		return b, err
	}
	head := `{"@odata.type":"` + t.odataType + `"`
	if string(b) == "{}" {
		return []byte(head + "}"), nil
	}
	return append([]byte(head+","), b[1:]...), nil
}
