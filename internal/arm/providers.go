package arm

import (
	"net/http"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourcetype"
)

// Clients look up a provider to learn a type's API versions (the cloud
// CLI's `az resource show --ids` does, for every id), and tools register
// providers before using them. Every provider berth answers for is
// registered in every subscription, and registering one changes nothing.

// serviceTypes are the types of the resource manager's own services berth
// serves, which are not resources of All's: their versions are those the
// cloud CLI's profiles and the SDKs send.
var serviceTypes = map[string][]string{
	"Microsoft.Resources/deployments":            resourcesAPIVersions,
	"Microsoft.Resources/deployments/operations": resourcesAPIVersions,
	"Microsoft.Resources/resourceGroups":         resourcesAPIVersions,
	"Microsoft.Resources/resources":              resourcesAPIVersions,
	"Microsoft.Resources/subscriptions":          {"2022-12-01", "2021-01-01", "2020-01-01", "2016-06-01"},
	"Microsoft.Resources/providers":              resourcesAPIVersions,
	"Microsoft.Authorization/roleAssignments":    {"2022-04-01", "2020-04-01-preview", "2018-09-01-preview", "2015-07-01"},
	"Microsoft.Authorization/roleDefinitions":    {"2022-04-01", "2018-01-01-preview", "2015-07-01"},
	"Microsoft.Insights/eventtypes":              {"2015-04-01"},
}

var resourcesAPIVersions = []string{"2022-09-01", "2021-04-01", "2020-10-01", "2019-10-01", "2018-05-01"}

type providerTypeJSON struct {
	ResourceType string   `json:"resourceType"`
	Locations    []string `json:"locations"`
	APIVersions  []string `json:"apiVersions"`
}

type providerJSON struct {
	ID                 string             `json:"id"`
	Namespace          string             `json:"namespace"`
	RegistrationState  string             `json:"registrationState"`
	RegistrationPolicy string             `json:"registrationPolicy"`
	ResourceTypes      []providerTypeJSON `json:"resourceTypes"`
}

// providers are those berth serves, in namespace order, their types in
// the order resourcetype.All and serviceTypes give.
func providers(sub string) []providerJSON {
	types := resourcetype.All()
	services := make([]string, 0, len(serviceTypes))
	for t := range serviceTypes {
		services = append(services, t)
	}
	slices.Sort(services)
	var out []providerJSON
	for _, t := range append(types, services...) {
		ns, typ, _ := strings.Cut(t, "/")
		i := slices.IndexFunc(out, func(p providerJSON) bool { return p.Namespace == ns })
		if i < 0 {
			policy := "RegistrationRequired"
			if ns == "Microsoft.Resources" {
				policy = "RegistrationFree"
			}
			out = append(out, providerJSON{ID: "/subscriptions/" + sub + "/providers/" + ns, Namespace: ns,
				RegistrationState: "Registered", RegistrationPolicy: policy})
			i = len(out) - 1
		}
		versions := resourcetype.APIVersions(t)
		if versions == nil {
			versions = slices.Clone(serviceTypes[t])
		}
		out[i].ResourceTypes = append(out[i].ResourceTypes, providerTypeJSON{ResourceType: typ, Locations: []string{}, APIVersions: versions})
	}
	slices.SortFunc(out, func(a, b providerJSON) int { return strings.Compare(a.Namespace, b.Namespace) })
	return out
}

func (h *Handler) listProviders(w http.ResponseWriter, r *http.Request, sub string) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	return list(w, providers(sub))
}

// provider serves GET of a provider and POST of its register action.
func (h *Handler) provider(w http.ResponseWriter, r *http.Request, sub, namespace, action string) error {
	want := http.MethodGet
	if action != "" {
		want = http.MethodPost
	}
	if r.Method != want {
		return methodNotAllowed(r)
	}
	for _, p := range providers(sub) {
		if strings.EqualFold(p.Namespace, namespace) {
			return writeJSON(w, http.StatusOK, p)
		}
	}
	return &controlplane.Error{Kind: controlplane.ErrNotFound, Code: "InvalidResourceNamespace",
		Message: "The resource namespace '" + namespace + "' is invalid."}
}
