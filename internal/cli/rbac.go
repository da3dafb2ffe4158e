package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ForRBAC are berth ad sp create-for-rbac's options.
type ForRBAC struct {
	Name   string
	Role   string
	Scopes []string
	Years  int
}

// RBACCredential is what create-for-rbac prints, in the cloud CLI's shape.
type RBACCredential struct {
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	Password    string `json:"password"`
	Tenant      string `json:"tenant"`
}

// CreateForRBAC makes an application (or reuses the one with that display
// name), its service principal and a new secret replacing the old ones,
// then assigns the role at each scope: the cloud CLI's requests in its
// order. A name like http://foo stays the display name, as it does there.
func (m *Management) CreateForRBAC(ctx context.Context, o ForRBAC) (RBACCredential, error) {
	if o.Role != "" && len(o.Scopes) == 0 {
		return RBACCredential{}, errors.New("--scopes must be specified when --role is used")
	}
	if o.Name == "" {
		o.Name = "berth-cli-" + time.Now().UTC().Format("2006-01-02-15-04-05")
	}
	if o.Role != "" {
		if _, err := m.Subscription(); err != nil {
			return RBACCredential{}, err
		}
	}
	d := m.directory()
	sps, err := d.list(ctx, "servicePrincipals", "displayName eq "+literal(o.Name))
	if err != nil {
		return RBACCredential{}, err
	}
	candidates, err := d.list(ctx, "applications", "startswith(displayName,"+literal(o.Name)+")")
	if err != nil {
		return RBACCredential{}, err
	}
	var apps []Object
	for _, a := range candidates {
		if a.str("displayName") == o.Name {
			apps = append(apps, a)
		}
	}
	var app Object
	switch len(apps) {
	case 0:
		if err := d.do(ctx, http.MethodPost, "/applications", map[string]any{"displayName": o.Name}, &app); err != nil {
			return RBACCredential{}, err
		}
	case 1:
		app = apps[0]
	default:
		return RBACCredential{}, fmt.Errorf("More than one application have the same display name '%s'.", o.Name)
	}
	cred, err := d.resetPassword(ctx, app, CredentialReset{Years: o.Years})
	if err != nil {
		return RBACCredential{}, err
	}
	out := RBACCredential{AppID: cred.AppID, DisplayName: o.Name, Password: *cred.Password, Tenant: cred.Tenant}
	var sp Object
	for _, s := range sps {
		if s.str("appId") == out.AppID {
			sp = s
		}
	}
	if sp == nil {
		body := map[string]any{"appId": out.AppID, "accountEnabled": true}
		if err := d.do(ctx, http.MethodPost, "/servicePrincipals", body, &sp); err != nil {
			return RBACCredential{}, fmt.Errorf("application %s has a new secret, but creating its service principal failed: %w", out.AppID, err)
		}
	}
	if o.Role == "" {
		return out, nil
	}
	for _, scope := range o.Scopes {
		// The secret is not in these errors: rather than leak it, the
		// message says how to get a new one.
		defID, err := m.resolveRole(ctx, o.Role, scope)
		if err == nil {
			_, err = m.assign(ctx, scope, defID, sp.str("id"), "ServicePrincipal")
		}
		if err != nil {
			return RBACCredential{}, fmt.Errorf("application %s and its service principal were created, but assigning the role at %s failed "+
				"(after fixing that, 'berth ad sp create-for-rbac' again gives it a new secret): %w", out.AppID, scope, err)
		}
	}
	return out, nil
}
