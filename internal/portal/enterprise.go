package portal

import (
	"net/http"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/store"
)

// enterpriseApp is a row of the Enterprise applications list: a service
// principal of the tenant, with where its application lives.
type enterpriseApp struct {
	member
	AppID, Home string
	// Removable is false for a managed identity, which goes with its
	// resource.
	Removable bool
}

func (h *Handler) enterpriseApps(w http.ResponseWriter, r *http.Request, rq *request) error {
	sps, err := h.Directory.ListServicePrincipals(r.Context(), rq.dir, "")
	if err != nil {
		return err
	}
	slices.SortFunc(sps, func(a, b store.ServicePrincipal) int {
		return strings.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName))
	})
	from, to, p := paginate(r, len(sps), Prefix+"/enterprise-apps")
	var rows []enterpriseApp
	for _, sp := range sps[from:to] {
		rows = append(rows, enterpriseApp{member: spMember(sp), AppID: sp.AppID, Home: sp.AppOwnerTenantID, Removable: sp.Type != store.PrincipalManagedIdentity})
	}
	h.render(w, http.StatusOK, "enterprise", rq, view{Title: "Enterprise applications", Section: "enterprise",
		Crumbs: []crumb{{"Home", Prefix + "/"}},
		Data: struct {
			Apps []enterpriseApp
			Page pager
		}{rows, p}})
	return nil
}

func (h *Handler) deleteEnterpriseApp(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := h.Directory.DeleteServicePrincipal(r.Context(), rq.dir, r.PathValue("id")); err != nil {
		return refused(err, "Deleting a service principal of %s needs %s, which your account does not hold.", tenantName(rq.Tenant), appWriters)
	}
	http.Redirect(w, r, Prefix+"/enterprise-apps", http.StatusSeeOther)
	return nil
}
