package arm

import (
	"net/http"

	"github.com/berthhq/berth/internal/controlplane"
)

// endpoints is the cloud metadata clients read to configure themselves:
// the 2015-01-01 object form, or the list form of newer API versions.
func (h *Handler) endpoints(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return &controlplane.Error{Kind: controlplane.ErrBadRequest, Code: "MissingApiVersionParameter",
			Message: "The api-version query parameter (?api-version=) is required for all requests."}
	}
	base := baseURL(r) + "/"
	audiences := []string{"https://management.core.windows.net/", "https://management.azure.com/", "api://berth/management"}
	if v < "2019-05-01" {
		return writeJSON(w, http.StatusOK, map[string]any{
			"galleryEndpoint": base,
			"graphEndpoint":   base,
			"portalEndpoint":  base,
			"authentication": map[string]any{
				"loginEndpoint": base,
				"audiences":     audiences,
			},
		})
	}
	return writeJSON(w, http.StatusOK, []map[string]any{{
		"name":                     "berth",
		"portal":                   base,
		"resourceManager":          base,
		"graph":                    base,
		"graphAudience":            base,
		"microsoftGraphResourceId": base,
		"authentication": map[string]any{
			"loginEndpoint":    base,
			"audiences":        audiences,
			"tenant":           "common",
			"identityProvider": "AAD",
		},
		"suffixes": map[string]any{
			"acrLoginServer": h.RegistrySuffix,
		},
	}})
}
