package sts

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/store"
)

// Handler serves the token service's endpoints. Paths start with a tenant
// (an id, a domain name, "common" or "organizations").
type Handler struct {
	Service *Service
	Log     *slog.Logger
	// Addresses maps the host names and IP addresses berth answers at
	// to host:port, for instance discovery of an authority named without
	// its port (MSAL asks the public cloud's sign-in host about any
	// authority it does not know, and drops the port).
	Addresses map[string]string
}

// Match reports whether a path belongs to the token service.
func Match(path string) bool {
	_, rest, ok := splitTenant(path)
	if !ok {
		return false
	}
	switch rest {
	case "oauth2/token", "oauth2/v2.0/token",
		".well-known/openid-configuration", "v2.0/.well-known/openid-configuration",
		"discovery/keys", "discovery/v2.0/keys", "discovery/instance":
		return true
	}
	return false
}

func splitTenant(path string) (tenant, rest string, ok bool) {
	p, found := strings.CutPrefix(path, "/")
	if !found {
		return "", "", false
	}
	tenant, rest, ok = strings.Cut(p, "/")
	return tenant, rest, ok && tenant != ""
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	if err := h.serve(w, r); err != nil {
		h.writeError(w, r, err)
	}
}

// authority is the scheme and host the client reached us at.
func authority(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	tenant, rest, _ := splitTenant(r.URL.Path)
	switch rest {
	case "oauth2/token", "oauth2/v2.0/token":
		if r.Method != http.MethodPost {
			return fmt.Errorf("%w: the token endpoint takes POST", ErrInvalidRequest)
		}
		return h.token(w, r, tenant, rest == "oauth2/v2.0/token")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return fmt.Errorf("%w: %s takes GET", ErrInvalidRequest, rest)
	}
	switch rest {
	case "v2.0/.well-known/openid-configuration":
		return h.discovery(w, r, tenant, true)
	case ".well-known/openid-configuration":
		return h.discovery(w, r, tenant, false)
	case "discovery/keys", "discovery/v2.0/keys":
		return h.keys(w, r)
	case "discovery/instance":
		return h.instance(w, r)
	}
	return ErrInvalidRequest
}

// maxForm bounds a token request body; real ones are a few kilobytes.
const maxForm = 64 << 10

func (h *Handler) token(w http.ResponseWriter, r *http.Request, tenant string, v2 bool) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	f := r.PostForm
	if f.Get("grant_type") == ManagedIdentityGrant && !v2 {
		return h.managedIdentity(w, r, tenant, f)
	}
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			return missing("grant_type")
		}
		return ErrUnsupportedGrant
	}
	req := ClientCredentials{Tenant: tenant, ClientID: f.Get("client_id"), ClientSecret: f.Get("client_secret"), Authority: authority(r), V2: v2,
		ClientAssertionType: f.Get("client_assertion_type"), ClientAssertion: f.Get("client_assertion"), Source: clientauth.SourceOf(r)}
	if user, pass, ok := r.BasicAuth(); ok {
		// client_secret_basic: the form-encoded id and secret.
		u, err1 := url.QueryUnescape(user)
		p, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%w: malformed Basic credentials", ErrInvalidRequest)
		}
		if req.ClientID == "" {
			req.ClientID = u
		}
		if req.ClientID == u && req.ClientSecret == "" {
			req.ClientSecret = p
		}
	}
	if v2 {
		scope := f.Get("scope")
		if scope == "" {
			return missing("scope")
		}
		res, err := resourceFromScope(scope)
		if err != nil {
			return err
		}
		req.Resource = res
	} else {
		if req.Resource = f.Get("resource"); req.Resource == "" {
			return missing("resource")
		}
	}
	if _, known := LookupResource(req.Resource); !known && strings.EqualFold(strings.TrimRight(req.Resource, "/"), authority(r)) {
		// The address the client reached berth at names the directory
		// API, as /metadata/endpoints advertises it: the cloud's CLI
		// takes that one value for the API's base URL and its token's
		// resource.
		req.Resource = DirectoryURI
	}
	tok, err := h.Service.Issue(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, tokenBody(tok, v2))
}

// managedIdentity serves the metadata agent's grant; the answer is the v1
// shape plus the identity's client_id, which the agent passes on.
func (h *Handler) managedIdentity(w http.ResponseWriter, r *http.Request, tenant string, f url.Values) error {
	if t := f.Get("client_assertion_type"); t != ClientAssertionType {
		return fmt.Errorf("%w: client_assertion_type must be %s", ErrInvalidRequest, ClientAssertionType)
	}
	res := f.Get("resource")
	if res == "" {
		return missing("resource")
	}
	tok, err := h.Service.IssueManagedIdentity(r.Context(), ManagedIdentityRequest{
		Tenant: tenant, Assertion: f.Get("client_assertion"), Resource: res, Authority: authority(r),
		ClientID: f.Get("client_id"), ObjectID: f.Get("object_id"), ResourceID: f.Get("msi_res_id"),
	})
	if err != nil {
		return err
	}
	body := tokenBody(tok.Token, false).(map[string]string)
	body["client_id"] = tok.ClientID
	return writeJSON(w, http.StatusOK, body)
}

// tokenBody is a token answer: v2's numbers, or v1's strings.
func tokenBody(tok Token, v2 bool) any {
	expiresIn := int(time.Until(tok.ExpiresAt).Round(time.Second).Seconds())
	var body any
	if v2 {
		body = map[string]any{"token_type": "Bearer", "expires_in": expiresIn, "ext_expires_in": expiresIn, "access_token": tok.AccessToken}
	} else {
		// v1 answers every number as a string.
		s := strconv.Itoa(expiresIn)
		body = map[string]string{
			"token_type": "Bearer", "expires_in": s, "ext_expires_in": s,
			"expires_on": strconv.FormatInt(tok.ExpiresAt.Unix(), 10), "not_before": strconv.FormatInt(tok.IssuedAt.Unix(), 10),
			"resource": tok.Resource, "access_token": tok.AccessToken,
		}
	}
	return body
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (h *Handler) discovery(w http.ResponseWriter, r *http.Request, tenant string, v2 bool) error {
	base := authority(r)
	id := tenant
	switch strings.ToLower(tenant) {
	case "common", "organizations":
		// Multi-tenant authorities name no tenant: the issuer says so
		// with a placeholder, as the cloud's does.
		id = "{tenantid}"
	default:
		t, err := h.Service.ResolveTenant(r.Context(), tenant)
		if err != nil {
			return err
		}
		id = t.ID
	}
	doc := map[string]any{
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "ver"},
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   r.Host,
	}
	if v2 {
		doc["issuer"] = base + "/" + id + "/v2.0"
		doc["token_endpoint"] = base + "/" + tenant + "/oauth2/v2.0/token"
		doc["authorization_endpoint"] = base + "/" + tenant + "/oauth2/v2.0/authorize"
		doc["jwks_uri"] = base + "/" + tenant + "/discovery/v2.0/keys"
	} else {
		doc["issuer"] = base + "/" + id + "/"
		doc["token_endpoint"] = base + "/" + tenant + "/oauth2/token"
		doc["authorization_endpoint"] = base + "/" + tenant + "/oauth2/authorize"
		doc["jwks_uri"] = base + "/common/discovery/keys"
	}
	return writeJSON(w, http.StatusOK, doc)
}

type jwk struct {
	Kty string   `json:"kty"`
	Use string   `json:"use"`
	Kid string   `json:"kid"`
	X5t string   `json:"x5t"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	X5c []string `json:"x5c"`
}

func (h *Handler) keys(w http.ResponseWriter, r *http.Request) error {
	keys, err := h.Service.Keys.Published(r.Context(), time.Now())
	if err != nil {
		return err
	}
	out := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range keys {
		cert, err := x509.ParseCertificate(k.Certificate)
		if err != nil {
			return err
		}
		pub := k.Private.PublicKey
		out.Keys = append(out.Keys, jwk{
			Kty: "RSA", Use: "sig", Kid: k.ID, X5t: k.ID,
			N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			X5c: []string{base64.StdEncoding.EncodeToString(cert.Raw)},
		})
	}
	return writeJSON(w, http.StatusOK, out)
}

// errUnknownInstance is instance discovery for an authority on another host.
var errUnknownInstance = errors.New("unknown or invalid instance")

func (h *Handler) instance(w http.ResponseWriter, r *http.Request) error {
	ae := r.URL.Query().Get("authorization_endpoint")
	u, err := url.Parse(ae)
	if ae == "" || err != nil {
		return errUnknownInstance
	}
	base, host := authority(r), r.Host
	if !strings.EqualFold(u.Host, r.Host) {
		addr, ok := h.Addresses[strings.ToLower(u.Hostname())]
		if !ok {
			return errUnknownInstance
		}
		base, host = "https://"+addr, addr
	}
	tenant, _, _ := splitTenant(u.Path)
	return writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": base + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host, "preferred_cache": host, "aliases": []string{host},
		}},
	})
}

type wireError struct {
	status int
	err    string
	code   int
	text   func(r *http.Request, err error) string
}

func constText(s string) func(*http.Request, error) string {
	return func(*http.Request, error) string { return s }
}

// wireErrors maps each domain error to the cloud's answer.
var wireErrors = []struct {
	err error
	wireError
}{
	{ErrTenantNotFound, wireError{400, "invalid_request", 90002, func(r *http.Request, _ error) string {
		t, _, _ := splitTenant(r.URL.Path)
		return fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", t)
	}}},
	{clientauth.ErrApplicationNotFound, wireError{400, "unauthorized_client", 700016, func(r *http.Request, _ error) string {
		t, _, _ := splitTenant(r.URL.Path)
		return fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", r.PostForm.Get("client_id"), t)
	}}},
	{clientauth.ErrInvalidSecret, wireError{401, "invalid_client", 7000215, constText("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.")}},
	{clientauth.ErrSecretExpired, wireError{401, "invalid_client", 7000222, constText("The provided client secret keys are expired.")}},
	{ErrAssertionMalformed, wireError{400, "invalid_request", 50027, assertionText("JWT token is invalid or malformed.")}},
	{ErrAssertionKeyNotFound, wireError{401, "invalid_client", 700027, func(r *http.Request, err error) string {
		return fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., %s, Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", assertionDetail(err), r.PostForm.Get("client_id"))
	}}},
	{ErrAssertionSignature, wireError{401, "invalid_client", 700027, assertionText("Client assertion failed signature validation.")}},
	{ErrAssertionTimeRange, wireError{401, "invalid_client", 700024, func(_ *http.Request, err error) string {
		return "Client assertion is not within its valid time range. " + assertionDetail(err)
	}}},
	{ErrAssertionIssuer, wireError{401, "invalid_client", 700211, func(_ *http.Request, err error) string {
		return fmt.Sprintf("No matching federated identity record found for presented assertion issuer '%s'.", assertionDetail(err))
	}}},
	{ErrAssertionAudience, wireError{401, "invalid_client", 700212, func(_ *http.Request, err error) string {
		return fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'.", assertionDetail(err))
	}}},
	{ErrAssertionSubject, wireError{401, "invalid_client", 700213, func(_ *http.Request, err error) string {
		return fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'.", assertionDetail(err))
	}}},
	{ErrExternalOIDC, wireError{400, "invalid_request", 90061, assertionText("Request to External OIDC endpoint failed.")}},
	{ErrIdentityNotFound, wireError{400, "invalid_request", 700016, constText("Identity not found")}},
	{ErrMachineCredential, wireError{401, "invalid_client", 700027, func(_ *http.Request, err error) string {
		return "Client assertion failed signature validation. " + err.Error() + "."
	}}},
	{ErrResourceNotFound, wireError{400, "invalid_resource", 500011, constText("The resource principal was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")}},
	{ErrMultipleResources, wireError{400, "invalid_scope", 700022, constText("The provided value for the input parameter scope is not valid because it contains more than one resource.")}},
	{ErrInvalidScope, wireError{400, "invalid_scope", 70011, constText("The provided value for the input parameter 'scope' is not valid.")}},
	{ErrUnsupportedGrant, wireError{400, "unsupported_grant_type", 70003, constText("The app requested an unsupported grant type.")}},
	{ErrMissingParameter, wireError{400, "invalid_request", 900144, func(_ *http.Request, err error) string {
		var m missingError
		errors.As(err, &m)
		return fmt.Sprintf("The request body must contain the following parameter: '%s'.", m.param)
	}}},
	{errUnknownInstance, wireError{400, "invalid_instance", 50049, constText("Unknown or invalid instance.")}},
	// The cloud's code when its directory cannot be reached.
	{store.ErrUnavailable, wireError{503, "temporarily_unavailable", 90033, constText("A transient error has occurred. Please try again.")}},
	{ErrInvalidRequest, wireError{400, "invalid_request", 900144, constText("The request is not valid.")}},
}

// assertionDetail is what verifyAssertion said about a rejected assertion.
func assertionDetail(err error) string {
	var ae assertionError
	if errors.As(err, &ae) {
		return ae.detail
	}
	return ""
}

// assertionText is a fixed description followed by the detail, if any.
func assertionText(s string) func(*http.Request, error) string {
	return func(_ *http.Request, err error) string {
		if d := assertionDetail(err); d != "" && !strings.EqualFold(d+".", s) {
			return s + " " + d + "."
		}
		return s
	}
}

// writeError answers in the cloud's error shape. Nothing secret is in it:
// descriptions name the client and tenant, never a credential.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	we := wireError{500, "server_error", 90000, constText("An internal error occurred.")}
	for _, e := range wireErrors {
		if errors.Is(err, e.err) {
			we = e.wireError
			break
		}
	}
	switch we.status {
	case 500:
		h.Log.ErrorContext(r.Context(), "token service request failed", "path", r.URL.Path, "err", err)
	case 503:
		h.Log.WarnContext(r.Context(), "token service: metadata store unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
	}
	now := time.Now().UTC()
	trace, corr := ids.New(), ids.New()
	ts := now.Format("2006-01-02 15:04:05Z")
	writeJSON(w, we.status, map[string]any{
		"error": we.err,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			we.code, we.text(r, err), trace, corr, ts),
		"error_codes":    []int{we.code},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      authority(r) + "/error?code=" + strconv.Itoa(we.code),
	})
}
