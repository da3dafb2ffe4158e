package arm

import (
	"net/http"
	"strings"

	"github.com/berthhq/berth/internal/cloudhosts"

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
	// berth's own address serves every surface: the token service takes
	// it as the directory API's resource too. Reached as the public
	// cloud's management host, berth names the cloud's other hosts.
	login, graph := base, base
	if strings.EqualFold(r.Host, cloudhosts.ManagementHost) {
		login, graph = "https://"+cloudhosts.LoginHost+"/", "https://"+cloudhosts.DirectoryHost+"/"
	}
	audiences := []string{"https://management.core.windows.net/", "https://management.azure.com/", "api://berth/management"}
	if v < "2019-05-01" {
		return writeJSON(w, http.StatusOK, map[string]any{
			"galleryEndpoint": base,
			"graphEndpoint":   graph,
			"portalEndpoint":  base,
			"authentication": map[string]any{
				"loginEndpoint": login,
				"audiences":     audiences,
			},
		})
	}
	return writeJSON(w, http.StatusOK, []map[string]any{{
		"name":                     "berth",
		"portal":                   base,
		"resourceManager":          base,
		"graph":                    graph,
		"graphAudience":            graph,
		"microsoftGraphResourceId": graph,
		"authentication": map[string]any{
			"loginEndpoint":    login,
			"audiences":        audiences,
			"tenant":           "common",
			"identityProvider": "AAD",
		},
		"suffixes": map[string]any{
			"acrLoginServer": h.RegistrySuffix,
		},
	}})
}
