package oidcissuer

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/federation"
)

// The documents' paths below an issuer, those of a Kubernetes API
// server.
const (
	discoveryPath = ".well-known/openid-configuration"
	keysPath      = "openid/v1/jwks"
	cacheControl  = "public, max-age=300"
)

// Match reports whether path is one of the hosted issuers' documents.
func Match(path string) bool { return strings.HasPrefix(path, controlplane.IssuerPathPrefix) }

// Handler serves the hosted issuers' documents.
type Handler struct {
	Store controlplane.IssuerStore
	// Scheme is berth's: https, or http on loopback.
	Scheme string
	Log    *slog.Logger
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "an issuer's documents are only read")
		return
	}
	base, doc, ok := strings.Cut(r.URL.Path, "/"+discoveryPath)
	if !ok || doc != "" {
		base, doc, ok = strings.Cut(r.URL.Path, "/"+keysPath)
	}
	if !ok || doc != "" {
		writeError(w, http.StatusNotFound, "NotFound", "no such issuer document")
		return
	}
	iss := h.Scheme + "://" + r.Host + base + "/"
	hosted, profile, err := controlplane.ClusterIssuer(r.Context(), h.Store, iss)
	if err != nil {
		h.Log.Error("reading a cluster issuer", "err", err)
		writeError(w, http.StatusInternalServerError, "InternalServerError", "the issuer could not be read")
		return
	}
	if !hosted {
		writeError(w, http.StatusNotFound, "NotFound", "no such issuer")
		return
	}
	set := federation.KeySet{Keys: []federation.JWK{}}
	if len(profile.ServiceAccountKeys) > 0 {
		if err := json.Unmarshal(profile.ServiceAccountKeys, &set); err != nil {
			h.Log.Error("reading a cluster issuer's keys", "err", err)
			writeError(w, http.StatusInternalServerError, "InternalServerError", "the issuer could not be read")
			return
		}
	}
	w.Header().Set("Cache-Control", cacheControl)
	if strings.HasSuffix(r.URL.Path, keysPath) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		json.NewEncoder(w).Encode(set)
		return
	}
	algs := []string{}
	for _, k := range set.Keys {
		if !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	if len(algs) == 0 {
		algs = append(algs, "RS256")
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              iss + keysPath,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": algs,
	})
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}
