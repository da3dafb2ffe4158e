package graph

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/sts"
)

// Prefix is where the directory API is served.
const Prefix = "/v1.0/"

// Verifier checks a bearer token for a resource.
type Verifier interface {
	Verify(ctx context.Context, token string, want sts.Resource) (sts.Claims, error)
}

// Handler serves the directory API.
type Handler struct {
	Service  *Service
	Verifier Verifier
	Log      *slog.Logger

	mux *http.ServeMux
}

// NewHandler routes the directory API to s, authenticating with v.
func NewHandler(s *Service, v Verifier, log *slog.Logger) *Handler {
	h := &Handler{Service: s, Verifier: v, Log: log, mux: http.NewServeMux()}
	routes := map[string]func(http.ResponseWriter, *http.Request, Caller) error{
		"POST /v1.0/applications":                                           h.createApplication,
		"GET /v1.0/applications":                                            h.listApplications,
		"GET /v1.0/applications/{id}":                                       h.getApplication,
		"PATCH /v1.0/applications/{id}":                                     h.updateApplication,
		"DELETE /v1.0/applications/{id}":                                    h.deleteApplication,
		"POST /v1.0/applications/{id}/addPassword":                          h.addPassword,
		"POST /v1.0/applications/{id}/removePassword":                       h.removePassword,
		"GET /v1.0/applications/{id}/owners":                                h.listApplicationOwners,
		"POST /v1.0/applications/{id}/owners/{ref}":                         h.addApplicationOwner,
		"GET /v1.0/applications/{id}/federatedIdentityCredentials":          h.listFederatedCredentials,
		"POST /v1.0/applications/{id}/federatedIdentityCredentials":         h.createFederatedCredential,
		"GET /v1.0/applications/{id}/federatedIdentityCredentials/{fic}":    h.getFederatedCredential,
		"PATCH /v1.0/applications/{id}/federatedIdentityCredentials/{fic}":  h.updateFederatedCredential,
		"DELETE /v1.0/applications/{id}/federatedIdentityCredentials/{fic}": h.deleteFederatedCredential,
		"POST /v1.0/servicePrincipals":                                      h.createServicePrincipal,
		"GET /v1.0/servicePrincipals":                                       h.listServicePrincipals,
		"GET /v1.0/servicePrincipals/{id}":                                  h.getServicePrincipal,
		"DELETE /v1.0/servicePrincipals/{id}":                               h.deleteServicePrincipal,
		"POST /v1.0/directoryObjects/getByIds":                              h.getByIDs,
		"POST /v1.0/users":                                                  h.createUser,
		"GET /v1.0/users":                                                   h.listUsers,
		"GET /v1.0/users/{id}":                                              h.getUser,
		"POST /v1.0/directoryRoles/{role}/members/{ref}":                    h.addRoleMember,
		"PATCH /v1.0/users/{id}":                                            h.updateUser,
		"DELETE /v1.0/users/{id}":                                           h.deleteUser,
		"DELETE /v1.0/directoryRoles/{role}/members/{member}/{ref}":         h.removeRoleMember,
		"GET /v1.0/domains":                                                 h.listDomains,
		"GET /v1.0/domains/{id}":                                            h.getDomain,
		"GET /v1.0/organization":                                            h.listOrganization,
		"GET /v1.0/me":                                                      h.me,
	}
	for pattern, fn := range routes {
		h.mux.Handle(pattern, h.authenticated(fn))
	}
	h.mux.Handle("/", h.authenticated(func(http.ResponseWriter, *http.Request, Caller) error {
		return invalid("Resource not found for the segment.")
	}))
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// authenticated verifies the bearer token before anything else, so that
// an anonymous caller learns nothing, not even which paths exist.
func (h *Handler) authenticated(fn func(http.ResponseWriter, *http.Request, Caller) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			h.writeError(w, r, ErrUnauthorized, "Access token is empty.")
			return
		}
		claims, err := h.Verifier.Verify(r.Context(), strings.TrimSpace(token), sts.Directory)
		if err != nil {
			if !errors.Is(err, sts.ErrInvalidToken) {
				h.writeError(w, r, err, "")
				return
			}
			h.Log.Debug("directory API: token refused", "err", err)
			h.writeError(w, r, ErrUnauthorized, "Access token validation failure. Invalid audience, signature or lifetime.")
			return
		}
		// Only service principals hold directory tokens.
		c := Caller{TenantID: claims.TenantID, ObjectID: claims.ObjectID, Kind: audit.ServicePrincipal}
		if err := fn(w, audit.Attach(w, r), c); err != nil {
			h.writeError(w, r, err, "")
		}
	})
}

// Wire shapes.

type webJSON struct {
	RedirectURIs []string `json:"redirectUris"`
}

type passwordJSON struct {
	KeyID         string    `json:"keyId"`
	DisplayName   *string   `json:"displayName"`
	Hint          string    `json:"hint"`
	SecretText    *string   `json:"secretText"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
}

type applicationJSON struct {
	ID                  string              `json:"id"`
	AppID               string              `json:"appId"`
	DisplayName         string              `json:"displayName"`
	SignInAudience      string              `json:"signInAudience"`
	PublisherDomain     string              `json:"publisherDomain,omitempty"`
	CreatedDateTime     time.Time           `json:"createdDateTime"`
	IdentifierURIs      []string            `json:"identifierUris"`
	Web                 webJSON             `json:"web"`
	PasswordCredentials []passwordJSON      `json:"passwordCredentials"`
	KeyCredentials      []keyCredentialJSON `json:"keyCredentials"`
}

type servicePrincipalJSON struct {
	ID                     string   `json:"id"`
	AppID                  string   `json:"appId"`
	AppOwnerOrganizationID string   `json:"appOwnerOrganizationId"`
	DisplayName            string   `json:"displayName"`
	ServicePrincipalNames  []string `json:"servicePrincipalNames"`
	ServicePrincipalType   string   `json:"servicePrincipalType"`
	AccountEnabled         bool     `json:"accountEnabled"`
}

func passwordOut(c store.PasswordCredential, value *string) passwordJSON {
	var name *string
	if c.DisplayName != "" {
		name = &c.DisplayName
	}
	return passwordJSON{KeyID: c.KeyID, DisplayName: name, Hint: c.Hint, SecretText: value, StartDateTime: c.StartDateTime, EndDateTime: c.EndDateTime}
}

func (h *Handler) applicationOut(ctx context.Context, a store.Application) (applicationJSON, error) {
	creds, err := h.Service.PasswordCredentials(ctx, a)
	if err != nil {
		return applicationJSON{}, err
	}
	keys, err := h.Service.KeyCredentials(ctx, a)
	if err != nil {
		return applicationJSON{}, err
	}
	out := applicationJSON{
		ID: a.ObjectID, AppID: a.AppID, DisplayName: a.DisplayName, SignInAudience: a.SignInAudience,
		CreatedDateTime: a.CreatedAt, IdentifierURIs: []string{}, Web: webJSON{RedirectURIs: a.WebRedirectURIs},
		PasswordCredentials: []passwordJSON{}, KeyCredentials: []keyCredentialJSON{},
	}
	if out.Web.RedirectURIs == nil {
		out.Web.RedirectURIs = []string{}
	}
	for _, c := range creds {
		out.PasswordCredentials = append(out.PasswordCredentials, passwordOut(c, nil))
	}
	for _, k := range keys {
		out.KeyCredentials = append(out.KeyCredentials, keyCredentialOut(k))
	}
	return out, nil
}

func servicePrincipalOut(sp store.ServicePrincipal) servicePrincipalJSON {
	return servicePrincipalJSON{
		ID: sp.ObjectID, AppID: sp.AppID, AppOwnerOrganizationID: sp.AppOwnerTenantID, DisplayName: sp.DisplayName,
		ServicePrincipalNames: ServicePrincipalNames(sp), ServicePrincipalType: sp.Type, AccountEnabled: true,
	}
}

// Handlers.

func (h *Handler) createApplication(w http.ResponseWriter, r *http.Request, c Caller) error {
	var in struct {
		DisplayName    string   `json:"displayName"`
		SignInAudience string   `json:"signInAudience"`
		Web            *webJSON `json:"web"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	n := NewApplication{DisplayName: in.DisplayName, SignInAudience: in.SignInAudience}
	if in.Web != nil {
		n.WebRedirectURIs = in.Web.RedirectURIs
	}
	a, err := h.Service.CreateApplication(r.Context(), c, n)
	if err != nil {
		return err
	}
	out, err := h.applicationOut(r.Context(), a)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) getApplication(w http.ResponseWriter, r *http.Request, c Caller) error {
	a, err := h.Service.GetApplication(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	out, err := h.applicationOut(r.Context(), a)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) listApplications(w http.ResponseWriter, r *http.Request, c Caller) error {
	apps, err := h.Service.ListApplications(r.Context(), c, r.URL.Query().Get("$filter"))
	if err != nil {
		return err
	}
	out := make([]applicationJSON, 0, len(apps))
	for _, a := range apps {
		j, err := h.applicationOut(r.Context(), a)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (h *Handler) deleteServicePrincipal(w http.ResponseWriter, r *http.Request, c Caller) error {
	if err := h.Service.DeleteServicePrincipal(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) deleteApplication(w http.ResponseWriter, r *http.Request, c Caller) error {
	if err := h.Service.DeleteApplication(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) addPassword(w http.ResponseWriter, r *http.Request, c Caller) error {
	var in struct {
		PasswordCredential struct {
			DisplayName   string     `json:"displayName"`
			StartDateTime *time.Time `json:"startDateTime"`
			EndDateTime   *time.Time `json:"endDateTime"`
		} `json:"passwordCredential"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	n := NewPassword{DisplayName: in.PasswordCredential.DisplayName}
	if t := in.PasswordCredential.StartDateTime; t != nil {
		n.StartDateTime = *t
	}
	if t := in.PasswordCredential.EndDateTime; t != nil {
		n.EndDateTime = *t
	}
	pc, value, err := h.Service.AddPassword(r.Context(), c, r.PathValue("id"), n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, passwordOut(pc, &value))
}

func (h *Handler) removePassword(w http.ResponseWriter, r *http.Request, c Caller) error {
	var in struct {
		KeyID string `json:"keyId"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := h.Service.RemovePassword(r.Context(), c, r.PathValue("id"), in.KeyID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) createServicePrincipal(w http.ResponseWriter, r *http.Request, c Caller) error {
	var in struct {
		AppID string `json:"appId"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	sp, err := h.Service.CreateServicePrincipal(r.Context(), c, in.AppID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, servicePrincipalOut(sp))
}

func (h *Handler) getServicePrincipal(w http.ResponseWriter, r *http.Request, c Caller) error {
	sp, err := h.Service.GetServicePrincipal(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, servicePrincipalOut(sp))
}

func (h *Handler) listServicePrincipals(w http.ResponseWriter, r *http.Request, c Caller) error {
	sps, err := h.Service.ListServicePrincipals(r.Context(), c, r.URL.Query().Get("$filter"))
	if err != nil {
		return err
	}
	out := make([]servicePrincipalJSON, 0, len(sps))
	for _, sp := range sps {
		out = append(out, servicePrincipalOut(sp))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// maxBody bounds request bodies; directory objects are small.
const maxBody = 1 << 20

func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxBody {
		return invalid("The request body is too large.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalid("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// writeError maps a domain error to its status and graph error code, once,
// here. msg overrides the message.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error, msg string) {
	status, code := http.StatusInternalServerError, "InternalServerError"
	switch {
	case errors.Is(err, ErrUnauthorized):
		status, code = http.StatusUnauthorized, "InvalidAuthenticationToken"
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	case errors.Is(err, ErrForbidden):
		status, code = http.StatusForbidden, "Authorization_RequestDenied"
	case errors.Is(err, ErrNotFound):
		status, code = http.StatusNotFound, "Request_ResourceNotFound"
	case errors.Is(err, ErrConflict):
		status, code = http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue"
	case errors.Is(err, ErrBadRequest):
		status, code = http.StatusBadRequest, "Request_BadRequest"
	case errors.Is(err, store.ErrInsufficientStorage):
		// Graph's answer when storage is exhausted.
		status, code = http.StatusInsufficientStorage, "quotaLimitReached"
		msg = "The change cannot be stored: berth's disk is full. Reads still work; try again once space is freed."
	case errors.Is(err, store.ErrUnavailable):
		// Graph's answer when it cannot serve for now.
		status, code = http.StatusServiceUnavailable, "serviceNotAvailable"
		msg = "The service is unavailable for now; retry shortly."
		w.Header().Set("Retry-After", "1")
		h.Log.Warn("directory API: metadata store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if msg == "" {
		msg = err.Error()
		if status == http.StatusInternalServerError {
			h.Log.Error("directory API", "method", r.Method, "path", r.URL.Path, "err", err)
			msg = "An internal server error occurred."
		} else if len(msg) > 0 {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
	}
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"innerError": map[string]string{
			"date":       time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id": ids.New(),
		},
	}}
	writeJSON(w, status, body)
}
