package portal

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// identityRow is a user-assigned managed identity as the pages show it.
type identityRow struct {
	resourceRow
	resourcetype.IdentityProperties
}

func identityOf(row resourceRow) identityRow {
	id := identityRow{resourceRow: row}
	_ = json.Unmarshal(row.Properties, &id.IdentityProperties) // properties that do not parse show as empty
	return id
}

func (h *Handler) identities(w http.ResponseWriter, r *http.Request, rq *request) error {
	rows, subs, err := h.resourcesOfType(r.Context(), rq, resourcetype.Identity)
	if err != nil {
		return err
	}
	var ids []identityRow
	for _, row := range rows {
		ids = append(ids, identityOf(row))
	}
	from, to, p := paginate(r, len(ids), Prefix+"/identities")
	h.render(w, http.StatusOK, "identities", rq, view{Title: "Managed identities", Section: "identities", Crumbs: []crumb{{"Home", Prefix + "/"}},
		Data: struct {
			Identities    []identityRow
			Subscriptions int
			Page          pager
		}{ids[from:to], subs, p}})
	return nil
}

// identity shows a user-assigned identity (?id= its resource id) and its
// federated credentials.
func (h *Handler) identity(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	id, err := resourceid.Parse(r.URL.Query().Get("id"))
	if err != nil || id.Type() != resourcetype.Identity {
		return &problem{status: http.StatusBadRequest, title: "No such identity", message: "The address does not name a managed identity."}
	}
	res, err := h.Resources.GetResource(ctx, rq.res, id)
	if err != nil {
		return refused(err, "Seeing managed identity %s needs a role assignment there or above it that allows reading it (Reader, Contributor, Owner and others do).", id.Name())
	}
	creds, err := h.Resources.ListFederatedCredentials(ctx, rq.res, id)
	if err != nil {
		return err
	}
	slices.SortFunc(creds, func(a, b store.FederatedCredential) int { return strings.Compare(a.Name, b.Name) })
	h.render(w, http.StatusOK, "identity", rq, view{Title: res.Name, Section: "identities",
		Crumbs: []crumb{{"Home", Prefix + "/"}, {"Managed identities", Prefix + "/identities"}},
		Data: struct {
			Identity    identityRow
			Credentials []store.FederatedCredential
		}{identityOf(resourceRow{Resource: res}), creds}})
	return nil
}

// computeRow is a virtual machine or cluster with the identities it runs
// as.
type computeRow struct {
	resourceRow
	Kind string
	// System is the system-assigned identity's principal id.
	System string
	// Identities are user-assigned identities: a VM's attached ones, a
	// cluster's identity profile (its kubelet identity among them).
	Identities []attachedIdentity
	// ServicePrincipal is the application a cluster's nodes run as, or
	// "msi".
	ServicePrincipal string
	Issuer           string
}

type attachedIdentity struct {
	Role, ResourceID, Name, ClientID, PrincipalID string
}

func attached(role, resourceID, clientID, principalID string) attachedIdentity {
	a := attachedIdentity{Role: role, ResourceID: resourceID, Name: resourceID, ClientID: clientID, PrincipalID: principalID}
	if id, err := resourceid.Parse(resourceID); err == nil {
		a.Name = id.Name()
	}
	return a
}

// compute lists the virtual machines and clusters with their identities.
func (h *Handler) compute(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	vms, subs, err := h.resourcesOfType(ctx, rq, resourcetype.VirtualMachine)
	if err != nil {
		return err
	}
	clusters, _, err := h.resourcesOfType(ctx, rq, resourcetype.ManagedCluster)
	if err != nil {
		return err
	}
	var rows []computeRow
	for _, vm := range vms {
		c := computeRow{resourceRow: vm, Kind: "Virtual machine"}
		if m, err := resourcetype.Machine(vm.Properties, vm.Identity); err == nil {
			c.System = m.System
			for rid, u := range m.User {
				c.Identities = append(c.Identities, attached("", rid, u.ClientID, u.PrincipalID))
			}
		}
		rows = append(rows, c)
	}
	for _, cl := range clusters {
		c := computeRow{resourceRow: cl, Kind: "Kubernetes cluster"}
		var p resourcetype.ClusterProperties
		if json.Unmarshal(cl.Properties, &p) == nil {
			c.ServicePrincipal = p.ServicePrincipalProfile.ClientID
			for key, ci := range p.IdentityProfile {
				c.Identities = append(c.Identities, attached(key, ci.ResourceID, ci.ClientID, ci.ObjectID))
			}
			if p.OIDCIssuerProfile != nil && p.OIDCIssuerProfile.Enabled {
				c.Issuer = p.OIDCIssuerProfile.IssuerURL
			}
		}
		var ident resourcetype.VMIdentity
		if len(cl.Identity) > 0 && json.Unmarshal(cl.Identity, &ident) == nil {
			c.System = ident.PrincipalID
			for rid, u := range ident.UserAssignedIdentities {
				c.Identities = append(c.Identities, attached("", rid, u.ClientID, u.PrincipalID))
			}
		}
		rows = append(rows, c)
	}
	for _, c := range rows {
		slices.SortFunc(c.Identities, func(a, b attachedIdentity) int { return strings.Compare(a.Role+a.Name, b.Role+b.Name) })
	}
	slices.SortFunc(rows, func(a, b computeRow) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	from, to, p := paginate(r, len(rows), Prefix+"/compute")
	h.render(w, http.StatusOK, "compute", rq, view{Title: "Virtual machines and clusters", Section: "compute", Crumbs: []crumb{{"Home", Prefix + "/"}},
		Data: struct {
			Rows          []computeRow
			Subscriptions int
			Page          pager
		}{rows[from:to], subs, p}})
	return nil
}
