package imds

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// managedIdentityGrant and the assertion type are what berth's token
// service expects from a metadata agent (internal/sts/machine.go).
const (
	managedIdentityGrant = "urn:berth:params:oauth:grant-type:managed-identity"
	jwtBearer            = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// Selector names an identity the way clients do: by at most one of
// client id, object id or resource id; the zero Selector is the machine's
// system-assigned identity (or its only user-assigned one).
type Selector struct {
	ClientID, ObjectID, ResourceID string
}

func (s Selector) key() string {
	switch {
	case s.ClientID != "":
		return "c:" + strings.ToLower(s.ClientID)
	case s.ObjectID != "":
		return "o:" + strings.ToLower(s.ObjectID)
	case s.ResourceID != "":
		return "r:" + strings.ToLower(s.ResourceID)
	}
	return ""
}

// Error is an answer for the metadata endpoint's client: its status and
// the IMDS error body.
type Error struct {
	Status      int
	Code        string // the body's "error"
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// errIdentityNotFound is the answer when the machine has no such identity
// (now): 400, never 404, which clients retry for a minute and which stops
// the cloud CLI's fallback from client id to object id.
var errIdentityNotFound = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Identity not found"}

// Agent gets tokens for the machine's identities from berth's token
// service and caches them per (identity, resource).
type Agent struct {
	cred   *CredentialFile
	key    *ecdsa.PrivateKey
	client *http.Client
	log    *slog.Logger
	// The machine's assertions are dated by the real clock (the server
	// checks them), not by the cache's.
	Cache
}

// NewAgent makes an agent for the machine of cred. A nil log discards.
func NewAgent(cred *CredentialFile, log *slog.Logger) (*Agent, error) {
	key, err := cred.Key()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The agent reaches berth directly: a proxy between the machine and its
	// token service would see the machine's assertions.
	tr.Proxy = nil
	if cred.CA != "" {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(cred.CA)) {
			return nil, errors.New("credential file: ca holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{cred: cred, key: key, client: &http.Client{Transport: tr, Timeout: fetchBudget}, log: log}, nil
}

// Token returns a token for the identity and resource, by the cache's
// rules (Cache.Get).
func (a *Agent) Token(ctx context.Context, sel Selector, resource string) (Token, error) {
	return a.Get(ctx, sel.key()+"|"+strings.ToLower(strings.TrimRight(resource, "/")),
		func(ctx context.Context) (Token, error) { return a.fetch(ctx, sel, resource) })
}

func describe(err error) string {
	var ierr *Error
	if errors.As(err, &ierr) {
		return ierr.Description
	}
	return err.Error()
}

// fetch asks berth's token service for a token with the managed-identity
// grant.
func (a *Agent) fetch(ctx context.Context, sel Selector, resource string) (Token, error) {
	endpoint := strings.TrimRight(a.cred.Server, "/") + "/" + a.cred.TenantID + "/oauth2/token"
	assertion, err := a.assertion(endpoint)
	if err != nil {
		return Token{}, err
	}
	form := url.Values{
		"grant_type": {managedIdentityGrant}, "client_assertion_type": {jwtBearer},
		"client_assertion": {assertion}, "resource": {resource},
	}
	for name, v := range map[string]string{"client_id": sel.ClientID, "object_id": sel.ObjectID, "msi_res_id": sel.ResourceID} {
		if v != "" {
			form.Set(name, v)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	resp, err := a.client.Do(req)
	if err != nil {
		a.log.Warn("token service unreachable", "server", a.cred.Server, "err", err)
		return Token{}, &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Description: fmt.Sprintf("berth's token service at %s could not be reached: %v", a.cred.Server, errors.Unwrap(err))}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Token{}, &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable", Description: "reading the token service's answer: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		e := a.serverError(resp.StatusCode, body)
		a.log.Info("token service refused", "status", resp.StatusCode, "error", e.Code, "identity", sel.key(), "resource", resource)
		return Token{}, e
	}
	tok, err := ParseToken(body)
	if err != nil {
		return Token{}, err
	}
	a.log.Debug("token issued", "identity", sel.key(), "resource", resource, "client_id", tok.ClientID,
		"expires_on", tok.ExpiresOn.UTC(), "took", time.Since(start))
	return tok, nil
}

// serverError turns the token service's AADSTS answer into the metadata
// endpoint's: the client's mistakes (an identity the machine does not
// have, an unknown resource, a bad request) pass on as 400s; the
// machine's own credential being refused is the agent's failure, a 500.
func (a *Agent) serverError(status int, body []byte) *Error {
	var v struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
	}
	json.Unmarshal(body, &v)
	switch {
	case slices.Contains(v.Codes, 700016):
		return errIdentityNotFound
	case v.Error == "invalid_resource":
		return &Error{Status: http.StatusBadRequest, Code: "invalid_resource", Description: v.Description}
	case status == http.StatusBadRequest && v.Error != "":
		return &Error{Status: http.StatusBadRequest, Code: v.Error, Description: v.Description}
	case v.Error == "invalid_client":
		a.log.Error("the token service refused this machine's credential; is it the VM's current one?", "vm", a.cred.ResourceID, "detail", v.Description)
		return &Error{Status: http.StatusInternalServerError, Code: "invalid_client",
			Description: "berth's token service refused this machine's credential; the machine's agent needs a current credential"}
	}
	return &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
		Description: fmt.Sprintf("berth's token service answered %d", status)}
}

// assertion is the machine's proof of itself: an ES256 JWT signed with
// its credential, for this one token endpoint, valid five minutes.
func (a *Agent) assertion(endpoint string) (string, error) {
	now := time.Now()
	var jti [16]byte
	rand.Read(jti[:])
	h, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": a.cred.KeyID})
	c, _ := json.Marshal(map[string]any{"iss": a.cred.ResourceID, "sub": a.cred.ResourceID, "aud": endpoint,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti[:])})
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, a.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
