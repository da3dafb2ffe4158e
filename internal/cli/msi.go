package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ManagedIdentity is how a login by managed identity names its identity
// to the metadata endpoint: Param is client_id, object_id or msi_res_id,
// and empty for the machine's system-assigned identity.
type ManagedIdentity struct {
	Param string `json:"param,omitempty"`
	ID    string `json:"id,omitempty"`
}

// imdsAddress is the instance metadata endpoint's fixed address, which
// BERTH_IMDS_ENDPOINT replaces where the agent listens elsewhere.
const imdsAddress = "http://169.254.169.254"

// errIdentityNotFound is the metadata endpoint's 400: the machine has no
// such identity.
var errIdentityNotFound = errors.New("identity not found")

// imdsError is the metadata endpoint's error body.
type imdsError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// fetchMSIToken gets a token for resource from the metadata endpoint, in
// whichever form the environment offers, as the cloud CLI does: App
// Service's (IDENTITY_ENDPOINT and IDENTITY_HEADER), Cloud Shell's
// (MSI_ENDPOINT), or the instance metadata endpoint. The environment is
// read at each request, since the App Service header changes.
func fetchMSIToken(ctx context.Context, mi ManagedIdentity, resource string) (CachedToken, error) {
	var req *http.Request
	var err error
	switch endpoint, header := os.Getenv("IDENTITY_ENDPOINT"), os.Getenv("IDENTITY_HEADER"); {
	case endpoint != "" && header != "":
		q := url.Values{"api-version": {"2019-08-01"}, "resource": {resource}}
		param := mi.Param
		if param == "msi_res_id" {
			param = "mi_res_id" // App Service's name for it
		}
		if param != "" {
			q.Set(param, mi.ID)
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil); err != nil {
			return CachedToken{}, err
		}
		req.Header.Set("X-IDENTITY-HEADER", header)
	case os.Getenv("MSI_ENDPOINT") != "":
		form := url.Values{"resource": {resource}}
		if mi.Param != "" {
			form.Set(mi.Param, mi.ID)
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodPost, os.Getenv("MSI_ENDPOINT"), strings.NewReader(form.Encode())); err != nil {
			return CachedToken{}, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Metadata", "true")
	default:
		base := imdsAddress
		if e := os.Getenv("BERTH_IMDS_ENDPOINT"); e != "" {
			base = strings.TrimRight(e, "/")
		}
		q := url.Values{"api-version": {"2018-02-01"}, "resource": {resource}}
		if mi.Param != "" {
			q.Set(mi.Param, mi.ID)
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/metadata/identity/oauth2/token?"+q.Encode(), nil); err != nil {
			return CachedToken{}, err
		}
		req.Header.Set("Metadata", "true")
	}
	// The endpoint is local to the machine and plain HTTP: never through
	// a proxy, which the agent refuses anyway.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil, DialContext: (&net.Dialer{Timeout: 3 * time.Second}).DialContext}}
	resp, err := client.Do(req)
	if err != nil {
		return CachedToken{}, fmt.Errorf("no managed identity endpoint at %s (is this a machine running berth imds? BERTH_IMDS_ENDPOINT names another address): %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return CachedToken{}, err
	}
	if resp.StatusCode != http.StatusOK {
		var e imdsError
		json.Unmarshal(body, &e)
		if resp.StatusCode == http.StatusBadRequest && strings.EqualFold(e.Description, "Identity not found") {
			return CachedToken{}, errIdentityNotFound
		}
		if e.Description != "" {
			return CachedToken{}, fmt.Errorf("managed identity endpoint: %s: %s", resp.Status, e.Description)
		}
		return CachedToken{}, fmt.Errorf("managed identity endpoint: %s", resp.Status)
	}
	// Every number arrives as a string; expires_on is what all three
	// forms send.
	var ok struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   string `json:"expires_on"`
	}
	if err := json.Unmarshal(body, &ok); err != nil || ok.AccessToken == "" {
		return CachedToken{}, fmt.Errorf("managed identity endpoint: a response without a token (%v)", err)
	}
	on, err := strconv.ParseInt(ok.ExpiresOn, 10, 64)
	if err != nil {
		return CachedToken{}, fmt.Errorf("managed identity endpoint: expires_on %q: %v", ok.ExpiresOn, err)
	}
	return CachedToken{AccessToken: ok.AccessToken, ExpiresOn: time.Unix(on, 0)}, nil
}

// identityCandidates are the ways to name --username to the metadata
// endpoint, in the cloud CLI's order: a resource id as such; anything
// else as a client id, then (if that identity is not found) an object id.
func identityCandidates(username string) []ManagedIdentity {
	switch {
	case username == "":
		return []ManagedIdentity{{}}
	case strings.Contains(strings.ToLower(username), "/subscriptions/"):
		return []ManagedIdentity{{Param: "msi_res_id", ID: username}}
	}
	return []ManagedIdentity{{Param: "client_id", ID: username}, {Param: "object_id", ID: username}}
}

// assignedIdentityInfo is how the cloud CLI shows which identity a
// managed identity login uses.
func (mi ManagedIdentity) assignedIdentityInfo() string {
	switch mi.Param {
	case "client_id":
		return "MSIClient-" + mi.ID
	case "object_id":
		return "MSIObject-" + mi.ID
	case "msi_res_id":
		return "MSIResource-" + mi.ID
	}
	return "MSI"
}

// unverifiedClaims decodes a JWT's claims without checking its signature:
// the client reads what a token says of itself (its tenant, expiry,
// actions) only to decide what to ask next; the server verifies it.
func unverifiedClaims(token string, v any) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return err
	}
	return json.Unmarshal(payload, v)
}

// tokenTenant reads the tenant from a token's tid claim. The token is not
// verified here: the server verifies it on every request; the tenant only
// tells the login which directory it is in.
func tokenTenant(token string) (string, error) {
	var claims struct {
		TID string `json:"tid"`
	}
	if err := unverifiedClaims(token, &claims); err != nil || claims.TID == "" {
		return "", errors.New("the managed identity's token names no tenant")
	}
	return claims.TID, nil
}

// findIdentity finds how to name username (see identityCandidates) to
// the metadata endpoint, by getting a token for resource as it.
func findIdentity(ctx context.Context, username, resource string) (ManagedIdentity, CachedToken, error) {
	for _, mi := range identityCandidates(username) {
		tok, err := fetchMSIToken(ctx, mi, resource)
		if !errors.Is(err, errIdentityNotFound) {
			return mi, tok, err
		}
	}
	if username == "" {
		return ManagedIdentity{}, CachedToken{}, errors.New("the machine has no managed identity: assign one with 'berth vm identity assign'")
	}
	return ManagedIdentity{}, CachedToken{}, fmt.Errorf("the machine has no managed identity %s", username)
}

// loginIdentity fills p from the metadata endpoint: it finds how to name
// the identity, and the tenant it is in.
func loginIdentity(ctx context.Context, p *Profile, username string) error {
	mi, tok, err := findIdentity(ctx, username, ManagementResource)
	if err != nil {
		return err
	}
	p.ManagedIdentity = &mi
	if p.TenantID, err = tokenTenant(tok.AccessToken); err != nil {
		return err
	}
	name := "systemAssignedIdentity"
	if username != "" {
		name = "userAssignedIdentity"
	}
	p.User = User{Name: name, Type: "servicePrincipal", AssignedIdentityInfo: p.ManagedIdentity.assignedIdentityInfo()}
	p.Tokens = map[string]CachedToken{ManagementResource: tok}
	return nil
}
