package arm

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

type subscriptionJSON struct {
	ID                   string   `json:"id"`
	AuthorizationSource  string   `json:"authorizationSource"`
	ManagedByTenants     []string `json:"managedByTenants"`
	SubscriptionID       string   `json:"subscriptionId"`
	TenantID             string   `json:"tenantId"`
	DisplayName          string   `json:"displayName"`
	State                string   `json:"state"`
	SubscriptionPolicies struct {
		LocationPlacementID string `json:"locationPlacementId"`
		QuotaID             string `json:"quotaId"`
		SpendingLimit       string `json:"spendingLimit"`
	} `json:"subscriptionPolicies"`
}

func subscriptionOut(s store.Subscription) subscriptionJSON {
	out := subscriptionJSON{ID: "/subscriptions/" + s.ID, AuthorizationSource: "RoleBased", ManagedByTenants: []string{},
		SubscriptionID: s.ID, TenantID: s.TenantID, DisplayName: s.DisplayName, State: "Enabled"}
	out.SubscriptionPolicies.LocationPlacementID = "Public_2014-09-01"
	out.SubscriptionPolicies.QuotaID = "Berth_2026-01-01"
	out.SubscriptionPolicies.SpendingLimit = "Off"
	return out
}

func (h *Handler) listSubscriptions(w http.ResponseWriter, r *http.Request, c controlplane.Caller) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	subs, err := h.Service.ListSubscriptions(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]subscriptionJSON, 0, len(subs))
	for _, s := range subs {
		out = append(out, subscriptionOut(s))
	}
	return list(w, out)
}

func (h *Handler) getSubscription(w http.ResponseWriter, r *http.Request, c controlplane.Caller, id string) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	s, err := h.Service.GetSubscription(r.Context(), c, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, subscriptionOut(s))
}

type groupJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	ManagedBy  *string           `json:"managedBy"`
	Properties struct {
		ProvisioningState string `json:"provisioningState"`
	} `json:"properties"`
}

func groupOut(g store.ResourceGroup) groupJSON {
	out := groupJSON{ID: resourceid.ID{Subscription: g.SubscriptionID, ResourceGroup: g.Name}.String(), Name: g.Name,
		Type: "Microsoft.Resources/resourceGroups", Location: g.Location, Tags: g.Tags}
	if len(out.Tags) == 0 {
		out.Tags = nil
	}
	out.Properties.ProvisioningState = "Succeeded"
	return out
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request, c controlplane.Caller, sub string) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	gs, err := h.Service.ListResourceGroups(r.Context(), c, sub)
	if err != nil {
		return err
	}
	out := make([]groupJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, groupOut(g))
	}
	return list(w, out)
}

func (h *Handler) group(w http.ResponseWriter, r *http.Request, c controlplane.Caller, sub, name string) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodPut:
		var in struct {
			Location string            `json:"location"`
			Tags     map[string]string `json:"tags"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		g, created, err := h.Service.PutResourceGroup(ctx, c, store.ResourceGroup{SubscriptionID: sub, Name: name, Location: in.Location, Tags: in.Tags})
		if err != nil {
			return err
		}
		return writeJSON(w, createdOr(created), groupOut(g))
	case http.MethodGet, http.MethodHead:
		g, err := h.Service.GetResourceGroup(ctx, c, sub, name)
		if r.Method == http.MethodHead {
			// A HEAD asks only whether the group exists.
			if errors.Is(err, controlplane.ErrNotFound) {
				w.WriteHeader(http.StatusNotFound)
				return nil
			}
			if err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, groupOut(g))
	case http.MethodDelete:
		found, err := h.Service.DeleteResourceGroup(ctx, c, sub, name)
		return deleted(w, found, err)
	}
	return methodNotAllowed(r)
}

// deleted answers a DELETE as the resource manager does: 200 when
// something was deleted, 204 when there was nothing to delete.
func deleted(w http.ResponseWriter, found bool, err error) error {
	if err != nil {
		return err
	}
	if found {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

func createdOr(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

type resourceJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags"`
	SKU        json.RawMessage   `json:"sku,omitempty"`
	Identity   json.RawMessage   `json:"identity,omitempty"`
	Properties json.RawMessage   `json:"properties"`
	SystemData systemDataJSON    `json:"systemData"`
}

type systemDataJSON struct {
	CreatedAt      string `json:"createdAt"`
	LastModifiedAt string `json:"lastModifiedAt"`
}

func (h *Handler) resourceOut(rs store.Resource) resourceJSON {
	out := resourceJSON{ID: rs.ID, Name: rs.Name, Type: rs.Type, Location: rs.Location, Tags: rs.Tags, SKU: rs.SKU,
		Identity: rs.Identity, Properties: rs.Properties,
		SystemData: systemDataJSON{CreatedAt: timestamp(rs.CreatedAt), LastModifiedAt: timestamp(rs.UpdatedAt)}}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	if len(out.Properties) == 0 {
		out.Properties = json.RawMessage("{}")
	}
	if strings.EqualFold(rs.Type, resourcetype.Registry) {
		out.Properties = withLoginServer(out.Properties, h.Service.LoginServer(rs.Name))
	}
	return out
}

// withLoginServer sets a registry's loginServer property to what the
// server's settings make it now; the rest stays as stored.
func withLoginServer(props json.RawMessage, loginServer string) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(props, &m); err != nil || m == nil {
		return props
	}
	m["loginServer"], _ = json.Marshal(loginServer)
	b, err := json.Marshal(m)
	if err != nil {
		return props
	}
	return b
}

// withInstanceView adds the instance view a machine GET with
// $expand=instanceView shows: berth knows only that the record is
// provisioned, not whether the machine runs, so it states no power state.
func withInstanceView(props json.RawMessage) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(props, &m); err != nil || m == nil {
		return props
	}
	m["instanceView"] = map[string]any{"statuses": []map[string]string{
		{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"}}}
	b, err := json.Marshal(m)
	if err != nil {
		return props
	}
	return b
}

func (h *Handler) resource(w http.ResponseWriter, r *http.Request, c controlplane.Caller, id resourceid.ID) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodPut:
		var in struct {
			Location   string            `json:"location"`
			Tags       map[string]string `json:"tags"`
			SKU        json.RawMessage   `json:"sku"`
			Properties json.RawMessage   `json:"properties"`
			Identity   json.RawMessage   `json:"identity"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		rs, created, err := h.Service.PutResource(ctx, c, id, controlplane.ResourceInput{
			Location: in.Location, Tags: in.Tags, SKU: in.SKU, Properties: in.Properties, Identity: in.Identity, IssuerBase: baseURL(r),
		})
		if err != nil {
			return err
		}
		return writeJSON(w, createdOr(created), h.resourceOut(rs))
	case http.MethodPatch:
		var in struct {
			Tags       map[string]string `json:"tags"`
			SKU        json.RawMessage   `json:"sku"`
			Properties json.RawMessage   `json:"properties"`
			Identity   json.RawMessage   `json:"identity"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		rs, err := h.Service.PatchResource(ctx, c, id, controlplane.ResourceInput{Tags: in.Tags, SKU: in.SKU, Properties: in.Properties, Identity: in.Identity, IssuerBase: baseURL(r)})
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, h.resourceOut(rs))
	case http.MethodGet:
		rs, err := h.Service.GetResource(ctx, c, id)
		if err != nil {
			return err
		}
		out := h.resourceOut(rs)
		if strings.EqualFold(rs.Type, resourcetype.VirtualMachine) && strings.EqualFold(r.URL.Query().Get("$expand"), "instanceView") {
			out.Properties = withInstanceView(out.Properties)
		}
		return writeJSON(w, http.StatusOK, out)
	case http.MethodDelete:
		found, err := h.Service.DeleteResource(ctx, c, id)
		return deleted(w, found, err)
	}
	return methodNotAllowed(r)
}

func (h *Handler) listResources(w http.ResponseWriter, r *http.Request, c controlplane.Caller, sub, group, typ string) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	f, err := resourceFilter(r.URL.Query().Get("$filter"))
	if err != nil {
		return err
	}
	// A group or type in the path narrows the list; the same in the
	// filter too is a question with two answers.
	if group != "" {
		if f.ResourceGroup != "" {
			return filterError("InvalidFilterInQueryString", "Invalid $filter: the resource group is already in the path.")
		}
		f.ResourceGroup, f.GroupByFilter = group, false
	}
	if typ != "" {
		if f.Type != "" {
			return filterError("InvalidFilterInQueryString", "Invalid $filter: the resource type is already in the path.")
		}
		f.Type = typ
	}
	rs, err := h.Service.ListResources(r.Context(), c, sub, f)
	if err != nil {
		return err
	}
	out := make([]resourceJSON, 0, len(rs))
	for _, x := range rs {
		out = append(out, h.resourceOut(x))
	}
	return list(w, out)
}

// action serves POST {resource id}/{action}.
func (h *Handler) action(w http.ResponseWriter, r *http.Request, c controlplane.Caller, id resourceid.ID, action string) error {
	switch strings.ToLower(action) {
	case "generatemachinecredential":
		cred, err := h.Service.NewMachineCredential(r.Context(), c, id)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		return writeJSON(w, http.StatusOK, cred)
	case "listcredentials":
		return h.listCredentials(w, r, c, id)
	case "regeneratecredential":
		return h.regenerateCredential(w, r, c, id)
	case "resetserviceprincipalprofile":
		return h.resetServicePrincipal(w, r, c, id)
	}
	return notSupported(r)
}

// resetServicePrincipal serves the cloud's update-credentials call. The
// secret is checked and forgotten: the answer, like the cloud's, has no
// body.
func (h *Handler) resetServicePrincipal(w http.ResponseWriter, r *http.Request, c controlplane.Caller, id resourceid.ID) error {
	if !strings.EqualFold(id.Type(), resourcetype.ManagedCluster) {
		return notSupported(r)
	}
	var in struct {
		ClientID string `json:"clientId"`
		Secret   string `json:"secret"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := h.Service.ResetServicePrincipal(r.Context(), c, id, in.ClientID, in.Secret); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
