package arm

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
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/sts"
)

// Verifier checks a bearer token for a resource.
type Verifier interface {
	Verify(ctx context.Context, token string, want sts.Resource) (sts.Claims, error)
}

// Handler serves the management API.
type Handler struct {
	Service  *controlplane.Service
	Verifier Verifier
	Log      *slog.Logger
	// RegistrySuffix is reported to clients that read the endpoints
	// metadata (the cloud's acrLoginServer suffix).
	RegistrySuffix string
}

// Match reports whether a path is the management API's.
func Match(path string) bool {
	p := strings.ToLower(path)
	return p == "/subscriptions" || strings.HasPrefix(p, "/subscriptions/") || isEndpoints(p)
}

// isEndpoints matches the cloud metadata's path, also as a client joins it
// to a management URL that ends in a slash ("//metadata/endpoints"): the
// cloud's CLI registers clouds so.
func isEndpoints(path string) bool {
	return strings.EqualFold(strings.TrimLeft(path, "/"), "metadata/endpoints")
}

// errUnauthenticated is a request without a valid management token.
var errUnauthenticated = errors.New("unauthenticated")

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-request-id", ids.New())
	if c := r.Header.Get("x-ms-correlation-request-id"); c != "" && len(c) <= 64 {
		w.Header().Set("x-ms-correlation-request-id", c)
	}
	r = audit.Attach(w, r)
	if err := h.serve(w, r); err != nil {
		h.writeError(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	if isEndpoints(r.URL.Path) {
		return h.endpoints(w, r)
	}
	c, err := h.authenticate(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("api-version") == "" {
		return &controlplane.Error{Kind: controlplane.ErrBadRequest, Code: "MissingApiVersionParameter",
			Message: "The api-version query parameter (?api-version=) is required for all requests."}
	}
	return h.route(w, r, c)
}

func (h *Handler) authenticate(r *http.Request) (controlplane.Caller, error) {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return controlplane.Caller{}, &controlplane.Error{Kind: errUnauthenticated, Code: "AuthenticationFailed",
			Message: "Authentication failed. The 'Authorization' header is missing."}
	}
	claims, err := h.Verifier.Verify(r.Context(), strings.TrimSpace(token), sts.Management)
	if err != nil {
		if !errors.Is(err, sts.ErrInvalidToken) {
			return controlplane.Caller{}, err
		}
		h.Log.Debug("management API: token refused", "err", err)
		return controlplane.Caller{}, &controlplane.Error{Kind: errUnauthenticated, Code: "InvalidAuthenticationToken",
			Message: "The access token is invalid."}
	}
	return controlplane.Caller{TenantID: claims.TenantID, ObjectID: claims.ObjectID}, nil
}

func notSupported(r *http.Request) error {
	return &controlplane.Error{Kind: controlplane.ErrNotFound, Code: "NotFound",
		Message: "No HTTP resource was found that matches the request URI '" + r.URL.Path + "'."}
}

func methodNotAllowed(r *http.Request) error {
	return &controlplane.Error{Kind: errMethod, Code: "MethodNotAllowed",
		Message: "The requested resource does not support http method '" + r.Method + "'."}
}

var errMethod = errors.New("method not allowed")

// route dispatches on the path's segments, compared ignoring case.
func (h *Handler) route(w http.ResponseWriter, r *http.Request, c controlplane.Caller) error {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for _, s := range seg {
		if s == "" {
			return notSupported(r)
		}
	}
	low := make([]string, len(seg))
	for i, s := range seg {
		low[i] = strings.ToLower(s)
	}
	// {scope}/providers/Microsoft.Authorization/{roleAssignments|roleDefinitions}[/{name}]
	for i := len(low) - 2; i >= 2; i-- {
		if low[i] == "providers" && low[i+1] == "microsoft.authorization" {
			scope, err := resourceid.Parse("/" + strings.Join(seg[:i], "/"))
			if err != nil {
				return invalidScope(err)
			}
			rest := seg[i+2:]
			if len(rest) == 0 && i == 2 {
				break // the provider itself, below
			}
			if len(rest) == 0 || len(rest) > 2 {
				return notSupported(r)
			}
			name := ""
			if len(rest) == 2 {
				name = rest[1]
			}
			switch strings.ToLower(rest[0]) {
			case "roleassignments":
				return h.roleAssignments(w, r, c, scope, name)
			case "roledefinitions":
				return h.roleDefinitions(w, r, c, scope, name)
			}
			return notSupported(r)
		}
	}
	if low[0] != "subscriptions" {
		return notSupported(r)
	}
	switch {
	case len(low) >= 7 && low[2] == "resourcegroups" && strings.Join(low[4:7], "/") == "providers/microsoft.resources/deployments":
		return h.deployments(w, r, c, seg[1], seg[3], seg[7:])
	case len(low) >= 6 && low[2] == "resourcegroups" && low[4] == "deployments":
		// The SDKs list a deployment's operations at this shorter path.
		return h.deployments(w, r, c, seg[1], seg[3], seg[5:])
	case len(low) == 1:
		return h.listSubscriptions(w, r, c)
	case len(low) == 2:
		return h.getSubscription(w, r, c, seg[1])
	case len(low) == 3 && low[2] == "resourcegroups":
		return h.listGroups(w, r, c, seg[1])
	case len(low) == 3 && low[2] == "resources":
		return h.listResources(w, r, c, seg[1], "", "")
	case len(low) == 4 && low[2] == "resourcegroups":
		return h.group(w, r, c, seg[1], seg[3])
	case len(low) == 5 && low[2] == "resourcegroups" && low[4] == "resources":
		return h.listResources(w, r, c, seg[1], seg[3], "")
	case len(low) == 3 && low[2] == "providers":
		return h.listProviders(w, r, seg[1])
	case len(low) == 4 && low[2] == "providers":
		return h.provider(w, r, seg[1], seg[3], "")
	case len(low) == 5 && low[2] == "providers" && low[4] == "register":
		return h.provider(w, r, seg[1], seg[3], seg[4])
	case len(low) == 5 && low[2] == "providers":
		return h.listResources(w, r, c, seg[1], "", seg[3]+"/"+seg[4])
	case len(low) == 7 && strings.Join(low[2:], "/") == "providers/microsoft.insights/eventtypes/management/values":
		return h.activityLog(w, r, c, seg[1])
	case len(low) == 7 && low[2] == "resourcegroups" && low[4] == "providers":
		return h.listResources(w, r, c, seg[1], seg[3], seg[5]+"/"+seg[6])
	case len(low) == 9 && low[2] == "resourcegroups" && low[4] == "providers":
		id, err := resourceid.Parse("/" + strings.Join(seg[:8], "/"))
		if err != nil {
			return invalidScope(err)
		}
		if r.Method == http.MethodPost {
			return h.action(w, r, c, id, seg[8])
		}
		return h.childCollection(w, r, c, id, seg[8])
	case len(low) >= 8 && low[2] == "resourcegroups" && low[4] == "providers" && len(low)%2 == 0:
		id, err := resourceid.Parse(r.URL.Path)
		if err != nil {
			return invalidScope(err)
		}
		switch len(id.Types) {
		case 1:
			return h.resource(w, r, c, id)
		case 2:
			return h.childResource(w, r, c, id)
		}
		return notSupported(r)
	}
	return notSupported(r)
}

func invalidScope(err error) error {
	return &controlplane.Error{Kind: controlplane.ErrBadRequest, Code: "InvalidResourceId", Message: strings.ToUpper(err.Error()[:1]) + err.Error()[1:] + "."}
}

// maxBody bounds request bodies: resource definitions are small.
const maxBody = 1 << 20

func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxBody {
		return &controlplane.Error{Kind: controlplane.ErrBadRequest, Code: "RequestTooLarge", Message: "The request content is larger than 1 MiB."}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &controlplane.Error{Kind: controlplane.ErrBadRequest, Code: "InvalidRequestContent",
			Message: "The request content was invalid and could not be deserialized: " + err.Error() + "."}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func list[T any](w http.ResponseWriter, items []T) error {
	if items == nil {
		items = []T{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": items})
}

// writeError maps a failure to its status, once, here.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrInsufficientStorage) {
		writeJSON(w, http.StatusInsufficientStorage, map[string]any{"error": map[string]string{"code": "InsufficientStorage",
			"message": "The change cannot be stored: berth's disk is full. Reads still work; try again once space is freed."}})
		return
	}
	if errors.Is(err, store.ErrUnavailable) {
		h.Log.Warn("management API: metadata store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": "ServiceUnavailable",
			"message": "The service is unavailable for now; retry shortly."}})
		return
	}
	var e *controlplane.Error
	if !errors.As(err, &e) {
		h.Log.Error("management API", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &controlplane.Error{Code: "InternalServerError", Message: "The server encountered an internal error; the request id is in x-ms-request-id."}
	}
	status := http.StatusInternalServerError
	switch {
	case errors.Is(e, errUnauthenticated):
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+baseURL(r)+`/common", error="invalid_token", error_description="`+e.Message+`"`)
	case errors.Is(e, controlplane.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(e, controlplane.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(e, controlplane.ErrBadRequest):
		status = http.StatusBadRequest
	case errors.Is(e, controlplane.ErrConflict):
		status = http.StatusConflict
	case errors.Is(e, errMethod):
		status = http.StatusMethodNotAllowed
	}
	writeJSON(w, status, map[string]any{"error": controlplane.ErrorOut(e)})
}

// baseURL is the address the client reached berth at.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
