package registryauth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/store"
)

// TokenHandler serves a registry's token endpoints: POST /oauth2/exchange,
// and GET and POST /oauth2/token.
type TokenHandler struct {
	Service *Service
	// RegistryFor picks the registry from the request (its Host).
	RegistryFor func(r *http.Request) (string, error)
	Log         *slog.Logger
}

// Match reports whether a path is a registry token endpoint's.
func Match(path string) bool { return path == "/oauth2/exchange" || path == "/oauth2/token" }

func (h *TokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := h.serve(w, r); err != nil {
		h.writeError(w, r, err)
	}
}

// maxForm bounds a token request: tokens and scopes are small.
const maxForm = 64 << 10

func (h *TokenHandler) serve(w http.ResponseWriter, r *http.Request) error {
	name, err := h.RegistryFor(r)
	if err != nil {
		return ErrRegistryUnknown
	}
	ctx := r.Context()
	reg, err := h.Service.Registry(ctx, name)
	if err != nil {
		return err
	}
	var form url.Values
	switch r.Method {
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			return fail(ErrBadRequest, "the request body is not a form: %v", err)
		}
		form = r.PostForm
	case http.MethodGet:
		if r.URL.Path != "/oauth2/token" {
			return errMethod
		}
		if form, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			return fail(ErrBadRequest, "malformed query: %v", err)
		}
	default:
		return errMethod
	}
	if svc := form.Get("service"); svc != "" && !strings.EqualFold(svc, reg.LoginServer) {
		return fail(ErrBadRequest, "service '%s' is not this registry (%s)", svc, reg.LoginServer)
	}
	if r.URL.Path == "/oauth2/exchange" {
		return h.exchange(w, r, reg, form)
	}
	return h.token(w, r, reg, form)
}

var errMethod = errors.New("method not allowed")

func (h *TokenHandler) exchange(w http.ResponseWriter, r *http.Request, reg Registry, form url.Values) error {
	switch gt := form.Get("grant_type"); gt {
	case "access_token", "access_token_refresh_token":
	case "":
		return fail(ErrBadRequest, "grant_type is required")
	default:
		return fail(ErrBadRequest, "unsupported grant_type '%s'", gt)
	}
	at := form.Get("access_token")
	if at == "" {
		return fail(ErrBadRequest, "access_token is required")
	}
	rt, err := h.Service.Exchange(r.Context(), reg, at, form.Get("tenant"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"refresh_token": rt})
}

func (h *TokenHandler) token(w http.ResponseWriter, r *http.Request, reg Registry, form url.Values) error {
	scopes, err := ParseScopes(form["scope"])
	if err != nil {
		return err
	}
	req := TokenRequest{Scopes: scopes, Offline: form.Get("offline_token") == "true" || form.Get("access_type") == "offline", Source: clientauth.SourceOf(r)}
	if r.Method == http.MethodGet {
		if user, pass, ok := r.BasicAuth(); ok {
			req.Basic, req.User, req.Pass = true, user, pass
		} else if r.Header.Get("Authorization") != "" {
			return fail(ErrUnauthorized, "unsupported authorization scheme")
		}
	} else {
		switch gt := form.Get("grant_type"); gt {
		case "refresh_token":
			if req.RefreshToken = form.Get("refresh_token"); req.RefreshToken == "" {
				return fail(ErrBadRequest, "refresh_token is required")
			}
		case "password":
			// Anonymous clients send an empty refresh token; containerd
			// sends its credentials as username and password.
			if user := form.Get("username"); user != "" {
				req.Basic, req.User, req.Pass = true, user, form.Get("password")
			}
		case "":
			return fail(ErrBadRequest, "grant_type is required")
		default:
			return fail(ErrBadRequest, "unsupported grant_type '%s'", gt)
		}
	}
	resp, err := h.Service.Token(r.Context(), reg, req)
	if err != nil {
		return err
	}
	out := map[string]any{"access_token": resp.AccessToken, "expires_in": resp.ExpiresIn}
	if resp.RefreshToken != "" {
		out["refresh_token"] = resp.RefreshToken
	}
	return writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// writeError maps a failure to its status and the registry's error body,
// once, here.
func (h *TokenHandler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusInternalServerError, "INTERNAL_ERROR", "internal server error"
	switch {
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrDenied):
		status, code, msg = http.StatusUnauthorized, "UNAUTHORIZED", err.Error()
	case errors.Is(err, ErrBadRequest):
		status, code, msg = http.StatusBadRequest, "BAD_REQUEST", err.Error()
	case errors.Is(err, ErrRegistryUnknown):
		status, code, msg = http.StatusNotFound, "NAME_UNKNOWN", "registry unknown"
	case errors.Is(err, errMethod):
		status, code, msg = http.StatusMethodNotAllowed, "UNSUPPORTED", "method not allowed"
	case errors.Is(err, store.ErrUnavailable):
		status, code, msg = http.StatusServiceUnavailable, "UNAVAILABLE", "the registry is unavailable for now; retry shortly"
		w.Header().Set("Retry-After", "1")
		h.Log.Warn("registry token service: metadata store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		h.Log.Error("registry token service", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
