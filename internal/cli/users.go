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
