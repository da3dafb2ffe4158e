package graph

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/store"
)

// Users are people of a tenant with a password (stored as an argon2id
// hash). They are managed here, may hold directory roles, and sign in on
// the consent pages (package web) only: the token service gives them no
// tokens.

// userWriterRoles may create, change and delete users.
var userWriterRoles = []string{store.RoleGlobalAdministrator, store.RoleUserAdministrator}

// privilegedRoles are those whose holders only a Global Administrator may
// delete, disable or give a new password: as in the cloud, a User
// Administrator manages users without administrator roles (and other User
// Administrators), or it could take over a more powerful account.
var privilegedRoles = []string{store.RoleGlobalAdministrator, store.RoleApplicationAdministrator}

// NewUser is what a caller gives to create a user.
type NewUser struct {
	AccountEnabled      bool
	DisplayName         string
	UserPrincipalName   string
	Password            string
	ForceChangePassword bool
}

// CreateUser adds a user to the caller's tenant. The user principal name
// must be in the tenant's domain, as the cloud requires it to be in one of
// the tenant's verified domains.
func (s *Service) CreateUser(ctx context.Context, c Caller, n NewUser) (u store.User, err error) {
	defer func() { s.record(ctx, c, opAddUser, u.ObjectID, "user "+n.UserPrincipalName, err) }()
	if err := s.hasAnyRole(ctx, c, userWriterRoles...); err != nil {
		return store.User{}, err
	}
	if strings.TrimSpace(n.DisplayName) == "" {
		return store.User{}, invalid("Property displayName is required.")
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
	hash, err := hashPassword(n.Password)
	if err != nil {
		return store.User{}, err
	}
	u = store.User{
		ObjectID: ids.New(), TenantID: c.TenantID, UserPrincipalName: n.UserPrincipalName, DisplayName: n.DisplayName,
		PasswordHash: hash, Disabled: !n.AccountEnabled, ForceChangePassword: n.ForceChangePassword, CreatedAt: time.Now().UTC(),
	}
	err = s.Directory.CreateUser(ctx, u)
	if errors.Is(err, store.ErrExists) {
		return store.User{}, ErrConflict
	}
	return u, err
}

// hashPassword hashes a password that meets the policy of package
// password, and refuses one that does not.
func hashPassword(pw string) (string, error) {
	hash, err := password.Hash(pw)
	if errors.Is(err, password.ErrTooShort) {
		return "", invalid(fmt.Sprintf("The specified password does not comply with password complexity requirements: it must have at least %d characters.", password.MinLength))
	}
	return hash, err
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

// DirectoryRoles returns the template ids of the directory roles a user
// or service principal of the caller's tenant holds, in the order
// RoleNames lists them.
func (s *Service) DirectoryRoles(ctx context.Context, c Caller, objectID string) ([]string, error) {
	if _, err := s.GetPrincipal(ctx, c, objectID); err != nil {
		return nil, err
	}
	var held []string
	for _, r := range RoleNames {
		has, err := s.Directory.HasDirectoryRole(ctx, c.TenantID, objectID, r.TemplateID)
		if err != nil {
			return nil, err
		}
		if has {
			held = append(held, r.TemplateID)
		}
	}
	return held, nil
}

// knownRole reports whether templateID is one of RoleNames.
func knownRole(templateID string) bool {
	return slices.ContainsFunc(RoleNames, func(r DirectoryRole) bool { return r.TemplateID == templateID })
}

// DirectoryRole is a directory role by its name and template id.
type DirectoryRole struct{ Name, TemplateID string }

// RoleNames are the directory roles berth knows.
var RoleNames = []DirectoryRole{
	{"Global Administrator", store.RoleGlobalAdministrator},
	{"Application Administrator", store.RoleApplicationAdministrator},
	{"User Administrator", store.RoleUserAdministrator},
}

// AddRoleMember gives a user or service principal of the caller's tenant
// a directory role. Only a Global Administrator may: any other role could
// otherwise raise itself.
func (s *Service) AddRoleMember(ctx context.Context, c Caller, templateID, objectID string) (err error) {
	defer func() { s.record(ctx, c, opAddRoleMember, objectID, "directory role "+templateID, err) }()
	if err := s.hasAnyRole(ctx, c, store.RoleGlobalAdministrator); err != nil {
		return err
	}
	if !knownRole(templateID) {
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

// UserPatch is a change to a user: the fields that are not nil are set.
type UserPatch struct {
	DisplayName         *string
	AccountEnabled      *bool
	Password            *string
	ForceChangePassword *bool
}

// UpdateUser changes a user of the caller's tenant. A new password, and
// disabling the account, end the user's sessions on the sign-in pages.
func (s *Service) UpdateUser(ctx context.Context, c Caller, idOrUPN string, p UserPatch) (err error) {
	var u store.User
	defer func() {
		// A new password is a reset, as the cloud names it, whatever
		// else changes with it; the password itself is never said.
		op := opUpdateUser
		if p.Password != nil {
			op = opResetPassword
		}
		enabled := ""
		if p.AccountEnabled != nil {
			enabled = fmt.Sprintf("accountEnabled %t", *p.AccountEnabled)
		}
		s.record(ctx, c, op, cmp.Or(u.ObjectID, idOrUPN), audit.Done(err, listed("changed ", given(p.DisplayName != nil, "displayName"), enabled,
			given(p.Password != nil, "password"), given(p.ForceChangePassword != nil, "forceChangePasswordNextSignIn"))), err)
	}()
	u, err = s.userToChange(ctx, c, idOrUPN)
	if err != nil {
		return err
	}
	up := store.UserUpdate{DisplayName: p.DisplayName, ForceChangePassword: p.ForceChangePassword}
	if p.DisplayName != nil && strings.TrimSpace(*p.DisplayName) == "" {
		return invalid("Property displayName cannot be empty.")
	}
	if p.AccountEnabled != nil {
		disabled := !*p.AccountEnabled
		up.Disabled = &disabled
		// Enabling the account again must not bring back the sessions
		// that disabling it ended.
		up.RevokeSessions = disabled
	}
	if p.Password != nil {
		hash, err := hashPassword(*p.Password)
		if err != nil {
			return err
		}
		up.PasswordHash, up.RevokeSessions = &hash, true
	}
	return keepAdministrator(notFound(s.Directory.UpdateUser(ctx, u.ObjectID, up)), "disabled")
}

// DeleteUser removes a user of the caller's tenant with its directory
// roles. Deleted users are gone at once: berth keeps no deleted items to
// restore.
func (s *Service) DeleteUser(ctx context.Context, c Caller, idOrUPN string) (err error) {
	var u store.User
	defer func() {
		s.record(ctx, c, opDeleteUser, cmp.Or(u.ObjectID, idOrUPN), audit.Done(err, "user "+u.UserPrincipalName+" deleted with its directory roles"), err)
	}()
	u, err = s.userToChange(ctx, c, idOrUPN)
	if err != nil {
		return err
	}
	return keepAdministrator(notFound(s.Directory.DeleteUser(ctx, u.ObjectID)), "deleted")
}

// userToChange finds the user a caller asks to change or delete, if the
// caller may: a Global Administrator any user, a User Administrator those
// who hold no privileged role.
func (s *Service) userToChange(ctx context.Context, c Caller, idOrUPN string) (store.User, error) {
	if err := s.hasAnyRole(ctx, c, userWriterRoles...); err != nil {
		return store.User{}, err
	}
	u, err := s.GetUser(ctx, c, idOrUPN)
	if err != nil {
		return store.User{}, err
	}
	err = s.hasAnyRole(ctx, c, store.RoleGlobalAdministrator)
	if !errors.Is(err, ErrForbidden) {
		return u, err
	}
	for _, role := range privilegedRoles {
		held, err := s.Directory.HasDirectoryRole(ctx, c.TenantID, u.ObjectID, role)
		if err != nil {
			return store.User{}, err
		}
		if held {
			return store.User{}, ErrForbidden
		}
	}
	return u, nil
}

// RemoveRoleMember takes a directory role from a user or service
// principal of the caller's tenant. Only a Global Administrator may, as
// only one may give roles.
func (s *Service) RemoveRoleMember(ctx context.Context, c Caller, templateID, objectID string) (err error) {
	defer func() { s.record(ctx, c, opRemoveRoleMember, objectID, "directory role "+templateID, err) }()
	if err := s.hasAnyRole(ctx, c, store.RoleGlobalAdministrator); err != nil {
		return err
	}
	if !knownRole(templateID) {
		return ErrNotFound
	}
	return keepAdministrator(notFound(s.Directory.RemoveDirectoryRole(ctx, c.TenantID, objectID, templateID)), "removed from the role")
}

// keepAdministrator explains the store's refusal to leave a tenant without
// a Global Administrator: there would be nobody left to give the role.
func keepAdministrator(err error, what string) error {
	if errors.Is(err, store.ErrLastAdministrator) {
		return invalid("The last Global Administrator of the tenant that can act cannot be " + what +
			": make another user or service principal a Global Administrator first.")
	}
	return err
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
		UserPrincipalName: in.UserPrincipalName, Password: in.PasswordProfile.Password,
		ForceChangePassword: in.PasswordProfile.ForceChangePasswordNextSignIn}
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

// userPatchable are the properties a PATCH of a user may carry, with
// those of passwordProfile. Any other is refused rather than ignored, so
// that no client takes a 204 for a change that was not made.
var userPatchable = map[string]bool{"accountEnabled": true, "displayName": true, "passwordProfile": true}
var passwordProfilePatchable = map[string]bool{"password": true, "forceChangePasswordNextSignIn": true}

func onlyProperties(raw json.RawMessage, allowed map[string]bool, of string) error {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil {
		return invalid("The value of '" + of + "' must be a JSON object.")
	}
	for k := range props {
		if !allowed[k] && !strings.HasPrefix(k, "@odata.") {
			return invalid("Property '" + k + "' of '" + of + "' cannot be changed: berth changes only " + strings.Join(slices.Sorted(maps.Keys(allowed)), ", ") + ".")
		}
	}
	return nil
}

// unmarshalProperties decodes an object whose properties are known to be
// expected ones, naming the property whose value has the wrong type.
func unmarshalProperties(raw json.RawMessage, v any) error {
	err := json.Unmarshal(raw, v)
	var wrong *json.UnmarshalTypeError
	if errors.As(err, &wrong) {
		return invalid(fmt.Sprintf("Invalid value for property '%s': it must be a %s.", wrong.Field, wrong.Type))
	}
	if err != nil {
		return invalid("Unable to read JSON request payload.")
	}
	return nil
}

func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request, c Caller) error {
	var raw json.RawMessage
	if err := decode(r, &raw); err != nil {
		return err
	}
	var in struct {
		AccountEnabled  *bool           `json:"accountEnabled"`
		DisplayName     *string         `json:"displayName"`
		PasswordProfile json.RawMessage `json:"passwordProfile"`
	}
	var profile struct {
		Password                      *string `json:"password"`
		ForceChangePasswordNextSignIn *bool   `json:"forceChangePasswordNextSignIn"`
	}
	if err := onlyProperties(raw, userPatchable, "user"); err != nil {
		return err
	}
	if err := unmarshalProperties(raw, &in); err != nil {
		return err
	}
	if in.PasswordProfile != nil {
		if err := onlyProperties(in.PasswordProfile, passwordProfilePatchable, "passwordProfile"); err != nil {
			return err
		}
		if err := unmarshalProperties(in.PasswordProfile, &profile); err != nil {
			return err
		}
	}
	p := UserPatch{DisplayName: in.DisplayName, AccountEnabled: in.AccountEnabled,
		Password: profile.Password, ForceChangePassword: profile.ForceChangePasswordNextSignIn}
	if err := h.Service.UpdateUser(r.Context(), c, r.PathValue("id"), p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, c Caller) error {
	if err := h.Service.DeleteUser(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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

// removeRoleMember is DELETE
// directoryRoles/roleTemplateId={id}/members/{objectId}/$ref.
func (h *Handler) removeRoleMember(w http.ResponseWriter, r *http.Request, c Caller) error {
	templateID, ok := strings.CutPrefix(r.PathValue("role"), "roleTemplateId=")
	if !ok || r.PathValue("ref") != "$ref" {
		return ErrNotFound
	}
	if err := h.Service.RemoveRoleMember(r.Context(), c, templateID, r.PathValue("member")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
