package portal

import (
	"net/http"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// subscriptionReaders is what the refusal to open a subscription or
// resource group says would allow it.
const subscriptionReaders = "a role assignment there or above it that allows reading it (Reader, Contributor, Owner and others do)"

func (h *Handler) subscription(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	sub, err := h.Resources.GetSubscription(ctx, rq.res, r.PathValue("sub"))
	if err != nil {
		return refused(err, "Opening this subscription needs %s; your account has none.", subscriptionReaders)
	}
	groups, err := h.Resources.ListResourceGroups(ctx, rq.res, sub.ID)
	if err != nil {
		return refused(err, "Listing the resource groups of %s needs %s; your account has none.", sub.DisplayName, subscriptionReaders)
	}
	slices.SortFunc(groups, func(a, b store.ResourceGroup) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	from, to, p := paginate(r, len(groups), Prefix+"/subscriptions/"+sub.ID)
	h.render(w, http.StatusOK, "subscription", rq, view{Title: sub.DisplayName, Section: "home", Crumbs: []crumb{{"Home", Prefix + "/"}},
		Data: struct {
			Subscription store.Subscription
			Scope        string
			Groups       []store.ResourceGroup
			Page         pager
		}{sub, resourceid.ID{Subscription: sub.ID}.String(), groups[from:to], p}})
	return nil
}

// groupRow is a resource of a resource group as its page lists it, with
// the portal's page for it where there is one.
type groupRow struct {
	store.Resource
	Kind, Href string
}

func (h *Handler) resourceGroup(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	subID, name := r.PathValue("sub"), r.PathValue("group")
	sub, err := h.Resources.GetSubscription(ctx, rq.res, subID)
	if err != nil {
		return refused(err, "Opening this subscription needs %s; your account has none.", subscriptionReaders)
	}
	g, err := h.Resources.GetResourceGroup(ctx, rq.res, sub.ID, name)
	if err != nil {
		return refused(err, "Opening resource group %s needs %s; your account has none.", name, subscriptionReaders)
	}
	rs, err := h.Resources.ListResources(ctx, rq.res, sub.ID, controlplane.ResourceFilter{ResourceGroup: g.Name})
	if err != nil {
		return refused(err, "Listing the resources of %s needs %s; your account has none.", g.Name, subscriptionReaders)
	}
	slices.SortFunc(rs, func(a, b store.Resource) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	from, to, p := paginate(r, len(rs), Prefix+"/subscriptions/"+sub.ID+"/resourcegroups/"+g.Name)
	var rows []groupRow
	for _, res := range rs[from:to] {
		rows = append(rows, groupRow{Resource: res, Kind: resourceKind(res.Type), Href: resourceHref(res)})
	}
	h.render(w, http.StatusOK, "group", rq, view{Title: g.Name, Section: "home",
		Crumbs: []crumb{{"Home", Prefix + "/"}, {sub.DisplayName, Prefix + "/subscriptions/" + sub.ID}},
		Data: struct {
			Subscription store.Subscription
			Group        store.ResourceGroup
			Scope        string
			Resources    []groupRow
			Page         pager
		}{sub, g, resourceid.ID{Subscription: sub.ID, ResourceGroup: g.Name}.String(), rows, p}})
	return nil
}

// resourceKind names a resource type as people know it.
func resourceKind(typ string) string {
	switch strings.ToLower(typ) {
	case strings.ToLower(resourcetype.Registry):
		return "Container registry"
	case strings.ToLower(resourcetype.Identity):
		return "Managed identity"
	case strings.ToLower(resourcetype.VirtualMachine):
		return "Virtual machine"
	case strings.ToLower(resourcetype.ManagedCluster):
		return "Kubernetes cluster"
	}
	return typ
}

// resourceHref is the portal's page for a resource, or its access control
// where it has no page of its own.
func resourceHref(res store.Resource) string {
	switch strings.ToLower(res.Type) {
	case strings.ToLower(resourcetype.Registry):
		return Prefix + "/registries/" + res.Name + "/settings"
	case strings.ToLower(resourcetype.Identity):
		return Prefix + "/identity?id=" + res.ID
	case strings.ToLower(resourcetype.VirtualMachine), strings.ToLower(resourcetype.ManagedCluster):
		return Prefix + "/compute"
	}
	return Prefix + "/iam?scope=" + res.ID
}
