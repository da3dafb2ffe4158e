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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// managedIdentityGrant and the assertion type are what berth's token
// service expects from a metadata agent (internal/sts/machine.go).
const (
	managedIdentityGrant = "urn:berth:params:oauth:grant-type:managed-identity"
	jwtBearer            = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// fetchTimeout bounds one call to the token service. Coalesced callers
// share the call, so it runs on its own context, not a client's.
const fetchTimeout = 30 * time.Second

// retryAfterFailure spaces the background refreshes of an entry while the
// token service fails, so a busy machine does not hammer a server that is
// down.
const retryAfterFailure = 5 * time.Second

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

// Token is a cached token: what the metadata answers are made of.
type Token struct {
	AccessToken string
	ClientID    string
	Resource    string
	ExpiresOn   time.Time
	NotBefore   time.Time
	// refreshAt is when the agent asks for a new one while still handing
	// this one out: half way through its life.
	refreshAt time.Time
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
	// skew moves the clock that decides cache freshness, so tests can
	// reach a token's refresh point and expiry without waiting an hour;
	// it is atomic because requests read it while tests set it. The
	// machine's assertions are dated by the real clock: the server checks
	// them.
	skew atomic.Int64

	mu     sync.Mutex
	cache  map[string]*entry
	flight singleflight.Group
}

type entry struct {
	tok        Token
	retryAfter time.Time
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
	return &Agent{cred: cred, key: key, client: &http.Client{Transport: tr, Timeout: fetchTimeout},
		log: log, cache: map[string]*entry{}}, nil
}

func (a *Agent) now() time.Time { return time.Now().Add(time.Duration(a.skew.Load())) }

// Token returns a token for the identity and resource: from the cache
// while it is fresh; a cached token past its refresh point is still
// returned, and a new one fetched in the background; a missing or
// expired one is fetched, once for all who ask at the same time. When the
// token service cannot be reached, cached tokens are served until they
// expire.
func (a *Agent) Token(ctx context.Context, sel Selector, resource string) (Token, error) {
	k := sel.key() + "|" + strings.ToLower(strings.TrimRight(resource, "/"))
	now := a.now()
	a.mu.Lock()
	e := a.cache[k]
	var tok Token
	if e != nil {
		tok = e.tok
	}
	a.mu.Unlock()
	if e != nil && now.Before(tok.ExpiresOn) {
		if !now.Before(tok.refreshAt) && !now.Before(e.retryAfter) {
			a.flight.DoChan(k, func() (any, error) { return a.refresh(k, sel, resource) })
		}
		return tok, nil
	}
	ch := a.flight.DoChan(k, func() (any, error) { return a.refresh(k, sel, resource) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return Token{}, r.Err
		}
		return r.Val.(Token), nil
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

// refresh fetches a token and updates the cache: a new token replaces the
// old; "identity not found" drops it (the identity was removed from the
// machine); any other failure keeps it, to serve until it expires.
func (a *Agent) refresh(k string, sel Selector, resource string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	tok, err := a.fetch(ctx, sel, resource)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		a.cache[k] = &entry{tok: tok}
		return tok, nil
	}
	var ierr *Error
	if errors.As(err, &ierr) && ierr.Status < 500 {
		delete(a.cache, k)
		return nil, err
	}
	now := a.now()
	e := a.cache[k]
	if e != nil && now.Before(e.tok.ExpiresOn) {
		e.retryAfter = now.Add(retryAfterFailure)
		return e.tok, nil
	}
	if e != nil {
		err = &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Description: fmt.Sprintf("The cached token expired at %s and a new one could not be obtained: %s", e.tok.ExpiresOn.UTC().Format(time.RFC3339), describe(err))}
		delete(a.cache, k)
	}
	return nil, err
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
	var v struct {
		AccessToken string `json:"access_token"`
		ClientID    string `json:"client_id"`
		Resource    string `json:"resource"`
		ExpiresOn   string `json:"expires_on"`
		NotBefore   string `json:"not_before"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.AccessToken == "" {
		return Token{}, &Error{Status: http.StatusBadGateway, Code: "service_unavailable", Description: "the token service's answer is not a token"}
	}
	exp, err1 := strconv.ParseInt(v.ExpiresOn, 10, 64)
	nbf, err2 := strconv.ParseInt(v.NotBefore, 10, 64)
	if err1 != nil || err2 != nil || exp <= nbf {
		return Token{}, &Error{Status: http.StatusBadGateway, Code: "service_unavailable", Description: "the token service's answer has no valid expires_on and not_before"}
	}
	tok := Token{AccessToken: v.AccessToken, ClientID: v.ClientID, Resource: v.Resource,
		ExpiresOn: time.Unix(exp, 0), NotBefore: time.Unix(nbf, 0)}
	tok.refreshAt = tok.NotBefore.Add(tok.ExpiresOn.Sub(tok.NotBefore) / 2)
	a.log.Debug("token issued", "identity", sel.key(), "resource", resource, "client_id", v.ClientID,
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
