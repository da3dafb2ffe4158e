package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// DirectoryRoles are the directory roles berth knows, by the names people
// use, with the cloud's role template ids.
var DirectoryRoles = map[string]string{
	"Global Administrator":      "62e90394-69f5-4237-9190-012177145e10",
	"Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
	"User Administrator":        "fe930be7-5e62-47db-91af-98c3a49a38b1",
}

// roleTemplate finds a role by name, in any letter case.
func roleTemplate(name string) (string, error) {
	for n, id := range DirectoryRoles {
		if strings.EqualFold(n, name) {
			return id, nil
		}
	}
	names := make([]string, 0, len(DirectoryRoles))
	for n := range DirectoryRoles {
		names = append(names, n)
	}
	sort.Strings(names)
	return "", fmt.Errorf("unknown directory role %q: one of %s", name, strings.Join(names, ", "))
}

// UserCreate are berth ad user create's options.
type UserCreate struct {
	DisplayName       string
	UserPrincipalName string
	Password          string
	ForceChange       bool
	// Role, if set, is a directory role name given to the new user.
	Role string
}

// CreateUser adds a user to the current tenant and, with a role, makes it
// a member of that directory role.
func (d *Directory) CreateUser(ctx context.Context, o UserCreate) (Object, error) {
	var template string
	if o.Role != "" {
		// Checked before the user exists, so a typo leaves nothing behind.
		var err error
		if template, err = roleTemplate(o.Role); err != nil {
			return nil, err
		}
	}
	body := map[string]any{
		"accountEnabled":    true,
		"displayName":       o.DisplayName,
		"userPrincipalName": o.UserPrincipalName,
		"passwordProfile":   map[string]any{"password": o.Password, "forceChangePasswordNextSignIn": o.ForceChange},
	}
	var out Object
	if err := d.do(ctx, http.MethodPost, "/users", body, &out); err != nil {
		return nil, err
	}
	if template != "" {
		ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + out.str("id")}
		path := "/directoryRoles/roleTemplateId=" + template + "/members/$ref"
		if err := d.do(ctx, http.MethodPost, path, ref, nil); err != nil {
			return nil, fmt.Errorf("user %s was created, but giving it the role %s failed: %w", out.str("id"), o.Role, err)
		}
	}
	return out, nil
}

// UserUpdate are berth ad user update's options; only what is set is
// changed.
type UserUpdate struct {
	ID             string
	DisplayName    *string
	AccountEnabled *bool
	Password       *string
	ForceChange    *bool
	// AddRole and RemoveRole, if set, are directory role names the user is
	// given or loses.
	AddRole, RemoveRole string
}

// UpdateUser changes a user's properties, then its directory roles.
func (d *Directory) UpdateUser(ctx context.Context, o UserUpdate) error {
	// Role names are checked before anything changes, so a typo leaves
	// the user as it was.
	var add, remove string
	var err error
	if o.AddRole != "" {
		if add, err = roleTemplate(o.AddRole); err != nil {
			return err
		}
	}
	if o.RemoveRole != "" {
		if remove, err = roleTemplate(o.RemoveRole); err != nil {
			return err
		}
	}
	body := map[string]any{}
	if o.DisplayName != nil {
		body["displayName"] = *o.DisplayName
	}
	if o.AccountEnabled != nil {
		body["accountEnabled"] = *o.AccountEnabled
	}
	if o.Password != nil || o.ForceChange != nil {
		profile := map[string]any{}
		if o.Password != nil {
			profile["password"] = *o.Password
		}
		if o.ForceChange != nil {
			profile["forceChangePasswordNextSignIn"] = *o.ForceChange
		}
		body["passwordProfile"] = profile
	}
	id := o.ID
	if add != "" || remove != "" {
		// Role membership names the object id, and only a user's.
		u, err := d.ShowUser(ctx, o.ID)
		if err != nil {
			return err
		}
		id = u.str("id")
	}
	if len(body) > 0 {
		err := d.do(ctx, http.MethodPatch, "/users/"+url.PathEscape(id), body, nil)
		if errors.Is(err, errDirectoryNotFound) {
			return fmt.Errorf("User '%s' doesn't exist", o.ID)
		}
		if err != nil {
			return err
		}
	}
	changed := len(body) > 0
	partly := func(what string, err error) error {
		if changed {
			return fmt.Errorf("user %s was updated, but %s failed: %w", o.ID, what, err)
		}
		return err
	}
	if add != "" {
		ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + id}
		if err := d.do(ctx, http.MethodPost, "/directoryRoles/roleTemplateId="+add+"/members/$ref", ref, nil); err != nil {
			return partly("giving it the role "+o.AddRole, err)
		}
		changed = true
	}
	if remove != "" {
		err := d.do(ctx, http.MethodDelete, "/directoryRoles/roleTemplateId="+remove+"/members/"+url.PathEscape(id)+"/$ref", nil, nil)
		if errors.Is(err, errDirectoryNotFound) {
			err = fmt.Errorf("user %s is not a member of the directory role %s", o.ID, o.RemoveRole)
		}
		if err != nil {
			return partly("taking the role "+o.RemoveRole+" from it", err)
		}
	}
	return nil
}

// DeleteUser deletes a user, by object id or user principal name.
func (d *Directory) DeleteUser(ctx context.Context, id string) error {
	err := d.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(id), nil, nil)
	if errors.Is(err, errDirectoryNotFound) {
		return fmt.Errorf("User '%s' doesn't exist", id)
	}
	return err
}

// ShowUser finds a user by object id or user principal name.
func (d *Directory) ShowUser(ctx context.Context, id string) (Object, error) {
	var o Object
	err := d.do(ctx, http.MethodGet, "/users/"+url.PathEscape(id), nil, &o)
	if errors.Is(err, errDirectoryNotFound) {
		return nil, fmt.Errorf("User '%s' doesn't exist", id)
	}
	return o, err
}

// ListUsers lists the tenant's users, or those with a display name or
// user principal name.
func (d *Directory) ListUsers(ctx context.Context, displayName, upn string) ([]Object, error) {
	var filter string
	switch {
	case upn != "":
		filter = "userPrincipalName eq " + literal(upn)
	case displayName != "":
		filter = "displayName eq " + literal(displayName)
	}
	return d.list(ctx, "users", filter)
}
