package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DirectoryResource is the audience of directory API tokens, as in the
// cloud CLI.
const DirectoryResource = "https://graph.microsoft.com"

// Directory calls the directory API as the logged-in principal.
type Directory struct {
	p      *Profile
	client *http.Client
}

// Directory is a directory API client as p.
func (p *Profile) Directory() (*Directory, error) {
	client, err := p.HTTPClient()
	if err != nil {
		return nil, err
	}
	return &Directory{p: p, client: client}, nil
}

// errDirectoryNotFound is a 404 from the directory API.
var errDirectoryNotFound = errors.New("resource not found")

type graphError struct {
	status  int
	code    string
	message string
}

func (e *graphError) Error() string { return e.message }

func (e *graphError) Unwrap() error {
	if e.status == http.StatusNotFound {
		return errDirectoryNotFound
	}
	return nil
}

// do sends a request and decodes the answer into out (if not nil).
func (d *Directory) do(ctx context.Context, method, path string, in, out any) error {
	tok, err := d.p.Token(ctx, DirectoryResource)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.p.Server+"/v1.0"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
			return &graphError{status: resp.StatusCode, message: "directory API: " + resp.Status}
		}
		return &graphError{status: resp.StatusCode, code: e.Error.Code, message: e.Error.Message}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Object is a directory object as the API returns it, printed unchanged.
type Object map[string]any

func (o Object) str(key string) string {
	s, _ := o[key].(string)
	return s
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (d *Directory) list(ctx context.Context, collection, filter string) ([]Object, error) {
	path := "/" + collection
	if filter != "" {
		path += "?$filter=" + url.QueryEscape(filter)
	}
	var out struct {
		Value []Object `json:"value"`
	}
	err := d.do(ctx, http.MethodGet, path, nil, &out)
	return out.Value, err
}

// find looks an object up by a $filter, then by object id.
func (d *Directory) find(ctx context.Context, collection, filter, id, what string) (Object, error) {
	found, err := d.list(ctx, collection, filter)
	if err != nil {
		return nil, err
	}
	if len(found) > 0 {
		return found[0], nil
	}
	var o Object
	err = d.do(ctx, http.MethodGet, "/"+collection+"/"+url.PathEscape(id), nil, &o)
	if errors.Is(err, errDirectoryNotFound) {
		return nil, fmt.Errorf("%s '%s' doesn't exist", what, id)
	}
	return o, err
}

// AppCreate are berth ad app create's options.
type AppCreate struct {
	DisplayName    string
	SignInAudience string
	RedirectURIs   []string
}

// CreateApp registers an application in the current tenant.
func (d *Directory) CreateApp(ctx context.Context, o AppCreate) (Object, error) {
	body := map[string]any{"displayName": o.DisplayName}
	if o.SignInAudience != "" {
		body["signInAudience"] = o.SignInAudience
	}
	if len(o.RedirectURIs) > 0 {
		body["web"] = map[string]any{"redirectUris": o.RedirectURIs}
	}
	var out Object
	return out, d.do(ctx, http.MethodPost, "/applications", body, &out)
}

// ShowApp finds an application by app id or object id.
func (d *Directory) ShowApp(ctx context.Context, id string) (Object, error) {
	return d.find(ctx, "applications", "appId eq "+literal(id), id, "Application")
}

// ListApps lists the tenant's applications, or those with a display name.
func (d *Directory) ListApps(ctx context.Context, displayName string) ([]Object, error) {
	filter := ""
	if displayName != "" {
		filter = "displayName eq " + literal(displayName)
	}
	return d.list(ctx, "applications", filter)
}

// DeleteApp deletes an application by app id or object id.
func (d *Directory) DeleteApp(ctx context.Context, id string) error {
	app, err := d.ShowApp(ctx, id)
	if err != nil {
		return err
	}
	return d.do(ctx, http.MethodDelete, "/applications/"+url.PathEscape(app.str("id")), nil, nil)
}

// Credential is what berth ad app credential reset prints, in the cloud
// CLI's shape: Password is null when a certificate was uploaded.
type Credential struct {
	AppID    string  `json:"appId"`
	Password *string `json:"password"`
	Tenant   string  `json:"tenant"`
}

// CredentialReset are berth ad app credential reset's options.
type CredentialReset struct {
	ID          string
	Append      bool
	DisplayName string
	Years       int
}

// ResetCredential adds a new secret to an application and, unless
// appending, removes the others afterwards, so that the application is
// never left without a working secret if this fails half-way.
func (d *Directory) ResetCredential(ctx context.Context, o CredentialReset) (Credential, error) {
	app, err := d.ShowApp(ctx, o.ID)
	if err != nil {
		return Credential{}, err
	}
	return d.resetPassword(ctx, app, o)
}

func (d *Directory) resetPassword(ctx context.Context, app Object, o CredentialReset) (Credential, error) {
	if o.Years <= 0 {
		o.Years = 1
	}
	start := time.Now().UTC()
	pc := map[string]any{"startDateTime": start, "endDateTime": start.AddDate(o.Years, 0, 0)}
	if o.DisplayName != "" {
		pc["displayName"] = o.DisplayName
	}
	objID := url.PathEscape(app.str("id"))
	var added struct {
		KeyID      string `json:"keyId"`
		SecretText string `json:"secretText"`
	}
	if err := d.do(ctx, http.MethodPost, "/applications/"+objID+"/addPassword", map[string]any{"passwordCredential": pc}, &added); err != nil {
		return Credential{}, err
	}
	if !o.Append {
		old, _ := app["passwordCredentials"].([]any)
		for _, c := range old {
			m, _ := c.(map[string]any)
			key, _ := m["keyId"].(string)
			if key == "" || key == added.KeyID {
				continue
			}
			if err := d.do(ctx, http.MethodPost, "/applications/"+objID+"/removePassword", map[string]any{"keyId": key}, nil); err != nil {
				return Credential{}, fmt.Errorf("the new secret was added, but removing secret %s failed: %w", key, err)
			}
		}
	}
	return Credential{AppID: app.str("appId"), Password: &added.SecretText, Tenant: d.p.TenantID}, nil
}

// CreateSP gives an application a service principal in the current
// tenant.
func (d *Directory) CreateSP(ctx context.Context, appID string) (Object, error) {
	var out Object
	return out, d.do(ctx, http.MethodPost, "/servicePrincipals", map[string]any{"appId": appID}, &out)
}

// AdminConsent grants an application, usually another tenant's
// multi-tenant one, access to the current tenant: what an administrator's
// consent in a browser does, a service principal for it here. One that
// exists already means the consent was given, so that is no error.
func (d *Directory) AdminConsent(ctx context.Context, appID string) error {
	err := d.do(ctx, http.MethodPost, "/servicePrincipals", map[string]any{"appId": appID}, nil)
	if ge, ok := errors.AsType[*graphError](err); ok && ge.status == http.StatusConflict {
		return nil
	}
	return err
}

// ShowSP finds a service principal by app id, name (servicePrincipalNames)
// or object id.
func (d *Directory) ShowSP(ctx context.Context, id string) (Object, error) {
	return d.find(ctx, "servicePrincipals", "servicePrincipalNames/any(c:c eq "+literal(id)+")", id, "Service principal")
}

// DeleteSP deletes a service principal by app id, name or object id: for
// another tenant's application, this tenant's consent is withdrawn.
func (d *Directory) DeleteSP(ctx context.Context, id string) error {
	sp, err := d.ShowSP(ctx, id)
	if err != nil {
		return err
	}
	return d.do(ctx, http.MethodDelete, "/servicePrincipals/"+url.PathEscape(sp.str("id")), nil, nil)
}

// ListSPs lists the tenant's service principals, or those with a display
// name.
func (d *Directory) ListSPs(ctx context.Context, displayName string) ([]Object, error) {
	filter := ""
	if displayName != "" {
		filter = "displayName eq " + literal(displayName)
	}
	return d.list(ctx, "servicePrincipals", filter)
}
