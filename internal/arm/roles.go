package arm

import (
	"net/http"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/store"
)

type permissionJSON struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

type roleDefinitionJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		RoleName         string           `json:"roleName"`
		Type             string           `json:"type"`
		Description      string           `json:"description"`
		AssignableScopes []string         `json:"assignableScopes"`
		Permissions      []permissionJSON `json:"permissions"`
	} `json:"properties"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// roleDefinitionID is a role's id as the resource manager prints it under
// a subscription.
func roleDefinitionID(sub, id string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + id
}

func roleDefinitionOut(sub string, d authz.RoleDefinition) roleDefinitionJSON {
	out := roleDefinitionJSON{ID: roleDefinitionID(sub, d.ID), Name: d.ID, Type: "Microsoft.Authorization/roleDefinitions"}
	out.Properties.RoleName, out.Properties.Type, out.Properties.Description = d.Name, "BuiltInRole", d.Description
	out.Properties.AssignableScopes = []string{"/"}
	out.Properties.Permissions = []permissionJSON{{Actions: nonNil(d.Actions), NotActions: nonNil(d.NotActions),
		DataActions: nonNil(d.DataActions), NotDataActions: nonNil(d.NotDataActions)}}
	return out
}

func (h *Handler) roleDefinitions(w http.ResponseWriter, r *http.Request, c controlplane.Caller, scope resourceid.ID, id string) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	if id != "" {
		d, err := h.Service.RoleDefinition(r.Context(), c, scope, id)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, roleDefinitionOut(scope.Subscription, d))
	}
	name, err := roleNameFilter(r.URL.Query().Get("$filter"))
	if err != nil {
		return err
	}
	ds, err := h.Service.RoleDefinitions(r.Context(), c, scope, name)
	if err != nil {
		return err
	}
	out := make([]roleDefinitionJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, roleDefinitionOut(scope.Subscription, d))
	}
	return list(w, out)
}

type assignmentJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		RoleDefinitionID                   string  `json:"roleDefinitionId"`
		PrincipalID                        string  `json:"principalId"`
		PrincipalType                      string  `json:"principalType"`
		Scope                              string  `json:"scope"`
		Condition                          *string `json:"condition"`
		ConditionVersion                   *string `json:"conditionVersion"`
		CreatedOn                          string  `json:"createdOn"`
		UpdatedOn                          string  `json:"updatedOn"`
		CreatedBy                          string  `json:"createdBy"`
		UpdatedBy                          string  `json:"updatedBy"`
		DelegatedManagedIdentityResourceID *string `json:"delegatedManagedIdentityResourceId"`
		Description                        *string `json:"description"`
	} `json:"properties"`
}

func assignmentOut(a store.RoleAssignment) assignmentJSON {
	scope, err := resourceid.Parse(a.Scope)
	sub := a.Scope
	if err == nil {
		sub = scope.Subscription
	}
	out := assignmentJSON{ID: a.Scope + "/providers/Microsoft.Authorization/roleAssignments/" + a.ID, Name: a.ID,
		Type: "Microsoft.Authorization/roleAssignments"}
	p := &out.Properties
	p.RoleDefinitionID, p.PrincipalID, p.PrincipalType, p.Scope = roleDefinitionID(sub, a.RoleDefinitionID), a.PrincipalID, a.PrincipalType, a.Scope
	p.CreatedOn, p.UpdatedOn = a.CreatedAt.UTC().Format(time.RFC3339Nano), a.CreatedAt.UTC().Format(time.RFC3339Nano)
	p.CreatedBy, p.UpdatedBy = a.CreatedBy, a.CreatedBy
	return out
}

func (h *Handler) roleAssignments(w http.ResponseWriter, r *http.Request, c controlplane.Caller, scope resourceid.ID, name string) error {
	ctx := r.Context()
	if name == "" {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r)
		}
		f, err := assignmentFilter(r.URL.Query().Get("$filter"))
		if err != nil {
			return err
		}
		as, err := h.Service.ListRoleAssignments(ctx, c, scope, f)
		if err != nil {
			return err
		}
		out := make([]assignmentJSON, 0, len(as))
		for _, a := range as {
			out = append(out, assignmentOut(a))
		}
		return list(w, out)
	}
	switch r.Method {
	case http.MethodPut:
		var in struct {
			Properties struct {
				RoleDefinitionID string `json:"roleDefinitionId"`
				PrincipalID      string `json:"principalId"`
				PrincipalType    string `json:"principalType"`
			} `json:"properties"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		a, err := h.Service.CreateRoleAssignment(ctx, c, scope, name, controlplane.NewRoleAssignment{
			RoleDefinitionID: in.Properties.RoleDefinitionID, PrincipalID: in.Properties.PrincipalID, PrincipalType: in.Properties.PrincipalType,
		})
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, assignmentOut(a))
	case http.MethodGet:
		a, err := h.Service.GetRoleAssignment(ctx, c, scope, name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, assignmentOut(a))
	case http.MethodDelete:
		a, found, err := h.Service.DeleteRoleAssignment(ctx, c, scope, name)
		if err != nil {
			return err
		}
		if !found {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return writeJSON(w, http.StatusOK, assignmentOut(a))
	}
	return methodNotAllowed(r)
}
