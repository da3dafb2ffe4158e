package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/web"
)

func (h *Handler) home(w http.ResponseWriter, r *http.Request, rq *request) error {
	subs, err := h.Resources.ListSubscriptions(r.Context(), rq.res)
	if err != nil {
		return err
	}
	h.render(w, http.StatusOK, "home", rq, view{Title: "Home", Section: "home", Data: struct {
		Subscriptions []store.Subscription
	}{subs}})
	return nil
}

// resourceRow is a row of a list of resources.
type resourceRow struct {
	store.Resource
	Subscription string
}

// resourcesOfType lists the resources of a type in the subscriptions the
// user may see, those the user may read, by name.
func (h *Handler) resourcesOfType(ctx context.Context, rq *request, typ string) ([]resourceRow, int, error) {
	subs, err := h.Resources.ListSubscriptions(ctx, rq.res)
	if err != nil {
		return nil, 0, err
	}
	var rows []resourceRow
	for _, sub := range subs {
		rs, err := h.Resources.ListResources(ctx, rq.res, sub.ID, controlplane.ResourceFilter{Type: typ})
		if err != nil {
			return nil, 0, err
		}
		for _, res := range rs {
			rows = append(rows, resourceRow{Resource: res, Subscription: sub.DisplayName})
		}
	}
	slices.SortFunc(rows, func(a, b resourceRow) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return rows, len(subs), nil
}

// registryRow is a row of the registries list.
type registryRow struct {
	resourceRow
	LoginServer string
}

func (h *Handler) registries(w http.ResponseWriter, r *http.Request, rq *request) error {
	rows, subs, err := h.resourcesOfType(r.Context(), rq, resourcetype.Registry)
	if err != nil {
		return err
	}
	var regs []registryRow
	for _, row := range rows {
		regs = append(regs, registryRow{resourceRow: row, LoginServer: h.Resources.LoginServer(row.Name)})
	}
	from, to, p := paginate(r, len(regs), Prefix+"/registries")
	h.render(w, http.StatusOK, "registries", rq, view{Title: "Container registries", Section: "registries",
		Crumbs: []crumb{{"Home", Prefix + "/"}},
		Data: struct {
			Registries    []registryRow
			Subscriptions int
			Page          pager
		}{regs[from:to], subs, p}})
	return nil
}

// assignment is a row of the access control page.
type assignment struct {
	store.RoleAssignment
	Role   string
	Member member
	// Here is whether it is at the page's scope, where it can be
	// removed; otherwise Inherited names the scope it is inherited from.
	Here      bool
	Inherited string
	From      string
}

// member is a principal as the page shows it.
type member struct {
	ID, Name, Kind, Detail string
}

// iamView is the access control page's data.
type iamView struct {
	Scope, ScopeName, ScopeKind string
	Assignments                 []assignment
	Roles                       []authz.RoleDefinition
	Role, Member                string
	// Pick is the Add role assignment form's search for a member.
	Pick *found
	// Check is Check access's search, and Access the access of the
	// principal it picked.
	Check  *found
	Access *access
}

func (h *Handler) iam(w http.ResponseWriter, r *http.Request, rq *request) error {
	return h.showIAM(w, r, rq, http.StatusOK, "", "", nil)
}

// scopeOf is the scope the request names in ?scope=.
func scopeOf(r *http.Request) (resourceid.ID, error) {
	id, err := resourceid.Parse(r.URL.Query().Get("scope"))
	if err != nil {
		return id, &problem{status: http.StatusBadRequest, title: "No such scope",
			message: "The address does not name a subscription, resource group or resource."}
	}
	return id, nil
}

// iamReaders is what the refusal of the access control page says would
// allow it.
const iamReaders = "a role assignment there or above it that allows reading role assignments (Owner, Contributor, Reader, User Access Administrator and others do)"

func (h *Handler) showIAM(w http.ResponseWriter, r *http.Request, rq *request, status int, role, principal string, errs []web.FieldError) error {
	ctx := r.Context()
	scope, err := scopeOf(r)
	if err != nil {
		return err
	}
	name := h.scopeNames(ctx, rq)
	as, err := h.Resources.ListRoleAssignments(ctx, rq.res, scope, controlplane.AssignmentFilter{AtScope: true})
	if err != nil {
		return refused(err, "Seeing who has access to %s %s needs %s; your account has none.", strings.ToLower(scopeKind(scope)), name(scope), iamReaders)
	}
	v := iamView{Scope: scope.String(), ScopeName: name(scope), ScopeKind: scopeKind(scope), Roles: authz.Roles(), Role: role, Member: principal}
	names := map[string]member{}
	for _, a := range as {
		m, ok := names[a.PrincipalID]
		if !ok {
			m = h.member(ctx, rq, a.PrincipalID)
			names[a.PrincipalID] = m
		}
		row := assignment{RoleAssignment: a, Member: m, Role: a.RoleDefinitionID, Here: strings.EqualFold(a.Scope, v.Scope)}
		if def, ok := authz.RoleByID(a.RoleDefinitionID); ok {
			row.Role = def.Name
		}
		if !row.Here {
			if from, err := resourceid.Parse(a.Scope); err == nil {
				row.Inherited, row.From = scopeKind(from)+" "+name(from), from.String()
			}
		}
		v.Assignments = append(v.Assignments, row)
	}
	slices.SortStableFunc(v.Assignments, func(a, b assignment) int {
		return strings.Compare(strings.ToLower(a.Role+a.Member.Name), strings.ToLower(b.Role+b.Member.Name))
	})
	q := r.URL.Query()
	if search := strings.TrimSpace(q.Get("check")); search != "" {
		f, err := h.findMembers(ctx, rq, search)
		if err != nil {
			return err
		}
		v.Check = &f
	}
	switch search := strings.TrimSpace(q.Get("member_search")); {
	case search != "":
		f, err := h.findMembers(ctx, rq, search)
		if err != nil {
			return err
		}
		v.Pick = &f
	case principal != "":
		// The form comes back with an error: the member chosen stays.
		if m := h.member(ctx, rq, principal); m.Kind != "Unknown" {
			v.Pick = &found{Members: []member{m}}
		}
	}
	if id := q.Get("principal"); id != "" {
		m := h.member(ctx, rq, id)
		if m.Kind == "Unknown" {
			return &problem{status: http.StatusNotFound, title: "Not found", message: "No user, application or managed identity with this id is in " + tenantName(rq.Tenant) + "."}
		}
		v.Access = checkAccess(scope, m, v.Assignments)
	}
	crumbs := []crumb{{"Home", Prefix + "/"}}
	if scope.Type() == resourcetype.Registry {
		crumbs = append(crumbs, crumb{"Container registries", Prefix + "/registries"})
	}
	h.render(w, status, "iam", rq, view{Title: "Access control (IAM)", Section: section(scope), Errors: errs, Crumbs: crumbs, Data: v})
	return nil
}

func section(scope resourceid.ID) string {
	if scope.Type() == resourcetype.Registry {
		return "registries"
	}
	return "home"
}

// scopeNames names scopes as people know them: a subscription by its
// display name where the user may see it (by its id otherwise), a
// resource group or resource by its name.
func (h *Handler) scopeNames(ctx context.Context, rq *request) func(resourceid.ID) string {
	subs := map[string]string{}
	return func(id resourceid.ID) string {
		switch {
		case id.IsSubscription():
			name, ok := subs[id.Subscription]
			if !ok {
				name = id.Subscription
				if sub, err := h.Resources.GetSubscription(ctx, rq.res, id.Subscription); err == nil && sub.DisplayName != "" {
					name = sub.DisplayName
				}
				subs[id.Subscription] = name
			}
			return name
		case id.IsResourceGroup():
			return id.ResourceGroup
		}
		return strings.Join(id.Names, "/")
	}
}

func scopeKind(id resourceid.ID) string {
	switch {
	case id.IsSubscription():
		return "Subscription"
	case id.IsResourceGroup():
		return "Resource group"
	case id.Type() == resourcetype.Registry:
		return "Container registry"
	}
	return "Resource"
}

// member names a principal of the caller's tenant. One that no longer
// resolves (deleted since) is shown by its id.
func (h *Handler) member(ctx context.Context, rq *request, id string) member {
	p, err := h.Directory.GetPrincipal(ctx, rq.dir, id)
	switch {
	case err != nil:
		return member{ID: id, Name: id, Kind: "Unknown"}
	case p.User != nil:
		return userMember(*p.User)
	default:
		return spMember(*p.ServicePrincipal)
	}
}

func userMember(u store.User) member {
	return member{ID: u.ObjectID, Name: u.DisplayName, Kind: "User", Detail: u.UserPrincipalName}
}

func spMember(sp store.ServicePrincipal) member {
	m := member{ID: sp.ObjectID, Name: sp.DisplayName, Kind: "Application", Detail: "Application (client) ID " + sp.AppID}
	switch {
	case sp.Type == store.PrincipalManagedIdentity:
		m.Kind, m.Detail = "Managed identity", "Client ID "+sp.AppID
	case sp.AppOwnerTenantID != sp.TenantID:
		// A multi-tenant application of another tenant, here by consent.
		m.Kind = "Application of another tenant"
	}
	return m
}

// iamWriters is what the refusal of a change to access says would allow
// it.
const iamWriters = "a role assignment there or above it that allows changing role assignments (Owner or User Access Administrator)"

func (h *Handler) changeIAM(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	scope, err := scopeOf(r)
	if err != nil {
		return err
	}
	back := Prefix + "/iam?scope=" + url.QueryEscape(scope.String())
	switch r.PostForm.Get("action") {
	case "add":
		role, principal := r.PostForm.Get("role"), r.PostForm.Get("member")
		var errs []web.FieldError
		if _, ok := authz.RoleByID(role); !ok {
			errs = append(errs, web.FieldError{Field: "role", Message: "Choose a role"})
		}
		if principal == "" {
			errs = append(errs, web.FieldError{Field: "member", Message: "Choose a member"})
		}
		if errs != nil {
			return h.showIAM(w, r, rq, http.StatusBadRequest, role, principal, errs)
		}
		_, err := h.Resources.CreateRoleAssignment(ctx, rq.res, scope, ids.New(), controlplane.NewRoleAssignment{RoleDefinitionID: role, PrincipalID: principal})
		switch {
		case errors.Is(err, controlplane.ErrConflict):
			return h.showIAM(w, r, rq, http.StatusConflict, role, principal, []web.FieldError{{Field: "member", Message: "The member has this role here already"}})
		case errors.Is(err, controlplane.ErrBadRequest):
			return h.showIAM(w, r, rq, http.StatusBadRequest, role, principal, []web.FieldError{{Field: "member", Message: serviceMessage(err)}})
		case err != nil:
			return refused(err, "Adding a role assignment to %s %s needs %s; your account has none.", strings.ToLower(scopeKind(scope)), h.scopeNames(ctx, rq)(scope), iamWriters)
		}
	case "remove":
		_, _, err := h.Resources.DeleteRoleAssignment(ctx, rq.res, scope, r.PostForm.Get("assignment"))
		if err != nil {
			return refused(err, "Removing a role assignment from %s %s needs %s; your account has none.", strings.ToLower(scopeKind(scope)), h.scopeNames(ctx, rq)(scope), iamWriters)
		}
	default:
		return &problem{status: http.StatusBadRequest, title: "Bad form", message: "The form asks for no known change."}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}
