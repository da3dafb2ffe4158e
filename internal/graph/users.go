package graph

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/store"
)

// Users are people of a tenant with a password. They are created and read
// here, and may hold directory roles, but nothing signs them in yet: the
// token service accepts only service principals until the sign-in pages
// exist, so a user's password is stored (as an argon2id hash) for then.

// userWriterRoles may create users.
var userWriterRoles = []string{store.RoleGlobalAdministrator, store.RoleUserAdministrator}

// roleTemplates are the directory roles berth knows, by template id.
var roleTemplates = map[string]bool{
	store.RoleGlobalAdministrator:      true,
	store.RoleApplicationAdministrator: true,
	store.RoleUserAdministrator:        true,
}

// NewUser is what a caller gives to create a user.
type NewUser struct {
	AccountEnabled    bool
	DisplayName       string
	UserPrincipalName string
	Password          string
}

// CreateUser adds a user to the caller's tenant. The user principal name
// must be in the tenant's domain, as the cloud requires it to be in one of
// the tenant's verified domains.
func (s *Service) CreateUser(ctx context.Context, c Caller, n NewUser) (store.User, error) {
	if err := s.hasAnyRole(ctx, c, userWriterRoles...); err != nil {
		return store.User{}, err
	}
	if strings.TrimSpace(n.DisplayName) == "" {
		return store.User{}, invalid("Property displayName is required.")
	}
	// Disabled accounts are not modelled; refusing beats silently creating
	// an account that is enabled.
	if !n.AccountEnabled {
		return store.User{}, invalid("Property accountEnabled must be true: disabled accounts are not supported.")
	}
	local, domain, ok := strings.Cut(n.UserPrincipalName, "@")
	if !ok || local == "" || strings.ContainsAny(n.UserPrincipalName, " \t\r\n") || strings.Contains(domain, "@") {
		return store.User{}, invalid("Property userPrincipalName is invalid: it must be name@domain.")
	}
	tenant, err := s.Directory.GetTenant(ctx, c.TenantID)
	if err != nil {
		return store.User{}, err
	}
	if !strings.EqualFold(domain, tenant.Domain) {
		return store.User{}, invalid("The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization: " + tenant.Domain + ".")
	}
	hash, err := password.Hash(n.Password)
	if errors.Is(err, password.ErrTooShort) {
		return store.User{}, invalid("The specified password does not comply with password complexity requirements: it must have at least 8 characters.")
	}
	if err != nil {
		return store.User{}, err
	}
	u := store.User{
		ObjectID: ids.New(), TenantID: c.TenantID, UserPrincipalName: n.UserPrincipalName, DisplayName: n.DisplayName,
		PasswordHash: hash, CreatedAt: time.Now().UTC(),
	}
	err = s.Directory.CreateUser(ctx, u)
	if errors.Is(err, store.ErrExists) {
		return store.User{}, ErrConflict
	}
	return u, err
}

// GetUser finds a user of the caller's tenant by object id or user
// principal name, as graph's users/{id | userPrincipalName} does.
func (s *Service) GetUser(ctx context.Context, c Caller, idOrUPN string) (store.User, error) {
	var u store.User
	var err error
	if strings.Contains(idOrUPN, "@") {
		u, err = s.Directory.GetUserByUPN(ctx, c.TenantID, idOrUPN)
	} else {
		u, err = s.Directory.GetUser(ctx, idOrUPN)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.TenantID != c.TenantID) {
		return store.User{}, ErrNotFound
	}
	return u, err
}

// ListUsers lists the caller's tenant's users that match a $filter on
// userPrincipalName or displayName.
func (s *Service) ListUsers(ctx context.Context, c Caller, filterExpr string) ([]store.User, error) {
	f, err := parseFilter(filterExpr, "displayName", "userPrincipalName")
	if err != nil {
		return nil, err
	}
	all, err := s.Directory.ListUsers(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	out := []store.User{}
	for _, u := range all {
		if f == nil || (f.prop == "displayName" && f.match(u.DisplayName)) || (f.prop == "userPrincipalName" && f.match(u.UserPrincipalName)) {
			out = append(out, u)
		}
	}
	return out, nil
}

// AddRoleMember gives a user or service principal of the caller's tenant
// a directory role. Only a Global Administrator may: any other role could
// otherwise raise itself.
func (s *Service) AddRoleMember(ctx context.Context, c Caller, templateID, objectID string) error {
	if err := s.hasAnyRole(ctx, c, store.RoleGlobalAdministrator); err != nil {
		return err
	}
	if !roleTemplates[templateID] {
		return ErrNotFound
	}
	if _, err := s.GetPrincipal(ctx, c, objectID); err != nil {
		return err
	}
	has, err := s.Directory.HasDirectoryRole(ctx, c.TenantID, objectID, templateID)
	if err != nil {
		return err
	}
	if has {
		return invalid("One or more added object references already exist for the following modified properties: 'members'.")
	}
	return s.Directory.AddDirectoryRole(ctx, c.TenantID, objectID, templateID)
}

// Wire shape and handlers. The password goes in and never comes out.

type userJSON struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
}

func userOut(u store.User) userJSON {
	return userJSON{ID: u.ObjectID, DisplayName: u.DisplayName, UserPrincipalName: u.UserPrincipalName}
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, c Caller) error {
	var in struct {
		AccountEnabled    *bool  `json:"accountEnabled"`
		DisplayName       string `json:"displayName"`
		UserPrincipalName string `json:"userPrincipalName"`
		PasswordProfile   *struct {
			Password                      string `json:"password"`
			ForceChangePasswordNextSignIn bool   `json:"forceChangePasswordNextSignIn"`
		} `json:"passwordProfile"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.PasswordProfile == nil || in.PasswordProfile.Password == "" {
		return invalid("Property passwordProfile.password is required.")
	}
	// accountEnabled is required by graph; absent means the client did not
	// ask for a disabled account, so it is taken as enabled.
	n := NewUser{AccountEnabled: in.AccountEnabled == nil || *in.AccountEnabled, DisplayName: in.DisplayName,
		UserPrincipalName: in.UserPrincipalName, Password: in.PasswordProfile.Password}
	u, err := h.Service.CreateUser(r.Context(), c, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, userOut(u))
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, c Caller) error {
	u, err := h.Service.GetUser(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userOut(u))
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, c Caller) error {
	users, err := h.Service.ListUsers(r.Context(), c, r.URL.Query().Get("$filter"))
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, userOut(u))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// addRoleMember is POST directoryRoles/roleTemplateId={id}/members/$ref
// with {"@odata.id": ".../directoryObjects/{objectId}"}. Roles are only
// addressed by template id: berth has no directory role objects of its
// own to activate.
func (h *Handler) addRoleMember(w http.ResponseWriter, r *http.Request, c Caller) error {
	templateID, ok := strings.CutPrefix(r.PathValue("role"), "roleTemplateId=")
	if !ok || r.PathValue("ref") != "$ref" {
		return ErrNotFound
	}
	var in struct {
		ODataID string `json:"@odata.id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	objectID, err := directoryObjectID(in.ODataID)
	if err != nil {
		return err
	}
	if err := h.Service.AddRoleMember(r.Context(), c, templateID, objectID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// directoryObjectID takes the object id out of an @odata.id reference,
// whatever host it names: clients write the cloud's.
func directoryObjectID(ref string) (string, error) {
	bad := invalid("Invalid object identifier '" + ref + "'.")
	u, err := url.Parse(ref)
	if err != nil {
		return "", bad
	}
	_, id, ok := strings.Cut(u.Path, "/directoryObjects/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", bad
	}
	return id, nil
}
