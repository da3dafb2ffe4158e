package federation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/internal/jws"
)

// Errors of verification. ErrIssuerUnreachable is the issuer's fault (its
// documents could not be fetched or read); the others the token's.
var (
	ErrIssuerUnreachable = errors.New("the issuer's OpenID Connect documents could not be fetched")
	ErrSignature         = errors.New("the token's signature does not verify with the issuer's keys")
	ErrTimeRange         = errors.New("the token is not within its valid time range")
	ErrMalformed         = errors.New("the token is not a valid JWT")
)

// Limits of fetching.
const (
	fetchTimeout     = 5 * time.Second
	maxDiscovery     = 64 << 10
	maxKeySet        = 256 << 10
	keysFresh        = time.Hour
	minRefetch       = time.Minute
	skew             = 5 * time.Minute
	maxTrackedIssuer = 1000
)

// Issuers fetches and caches issuers' keys. The zero value trusts the
// system's roots.
type Issuers struct {
	// Roots are the certificate authorities issuers' TLS certificates
	// must chain to; nil is the system's.
	Roots *x509.CertPool
	// Known, if set, is asked about every issuer before anything is
	// fetched.
	Known Known

	once   sync.Once
	client *http.Client
	mu     sync.Mutex
	byURL  map[string]*issuer
}

type issuer struct {
	mu      sync.Mutex // held while fetching: one fetch per issuer at a time
	keys    map[string]crypto.PublicKey
	fetched time.Time
	tried   time.Time
}

// Known is what berth itself knows of issuers: the clusters' issuers it
// hosts, whose keys it holds, and clusters' own issuers, whose TLS
// certificates chain to a CA the cluster named.
type Known interface {
	// KnownIssuer returns what berth holds of the issuer iss (exactly
	// that URL); found is false for an issuer berth knows nothing of.
	KnownIssuer(ctx context.Context, iss string) (k KnownIssuer, found bool, err error)
}

// KnownIssuer is what berth holds of one issuer.
type KnownIssuer struct {
	// Hosted: berth serves this issuer's documents itself, and Keys are
	// its keys; nothing is fetched, so an upload takes effect at once.
	Hosted bool
	Keys   KeySet
	// CAs are authorities the issuer's TLS certificate may chain to, as
	// well as Roots, when its documents are fetched for a credential of
	// TenantID, the tenant of the cluster that named them. Another
	// tenant's credentials did not choose to trust them: for those the
	// issuer is fetched as any other.
	CAs      []*x509.Certificate
	TenantID string
}

// Claims are what berth reads of a federated token.
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
}

// tokenClaims are the claims berth reads of a federated token.
type tokenClaims struct {
	Iss string       `json:"iss"`
	Sub string       `json:"sub"`
	Aud jws.Audience `json:"aud"`
	Exp *float64     `json:"exp"`
	Nbf *float64     `json:"nbf"`
}

func parse(token string) (jws.Token, tokenClaims, error) {
	t, err := jws.Parse(token)
	if err != nil {
		return t, tokenClaims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var c tokenClaims
	if err := t.Claims(&c); err != nil {
		return t, c, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.Iss == "" || c.Sub == "" {
		return t, c, fmt.Errorf("%w: no iss or sub", ErrMalformed)
	}
	return t, c, nil
}

// Unverified reads a token's issuer, subject and audiences without
// checking anything, to find which federated credential it claims to
// match before any key is fetched.
func Unverified(token string) (Claims, error) {
	_, c, err := parse(token)
	if err != nil {
		return Claims{}, err
	}
	return Claims{Issuer: c.Iss, Subject: c.Sub, Audience: c.Aud}, nil
}

// Verify checks token's signature with its issuer's published keys and
// its time range at now, and returns its claims. forTenant is the tenant
// whose federated credential trusts the issuer: the CAs a cluster named
// for its issuer count only for its own tenant.
func (is *Issuers) Verify(ctx context.Context, token, forTenant string, now time.Time) (Claims, error) {
	t, c, err := parse(token)
	if err != nil {
		return Claims{}, err
	}
	if c.Exp == nil {
		return Claims{}, fmt.Errorf("%w: no exp", ErrMalformed)
	}
	key, err := is.key(ctx, c.Iss, t.Header.Kid, forTenant, now)
	if err != nil {
		return Claims{}, err
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if t.Header.Alg != "RS256" {
			return Claims{}, fmt.Errorf("%w: algorithm %s with an RSA key", ErrSignature, t.Header.Alg)
		}
		err = t.VerifyRSA(k)
	case *ecdsa.PublicKey:
		err = t.VerifyES256(k)
	default:
		err = errors.New("unsupported key")
	}
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	exp := time.Unix(int64(*c.Exp), 0)
	if now.After(exp.Add(skew)) || c.Nbf != nil && now.Add(skew).Before(time.Unix(int64(*c.Nbf), 0)) {
		return Claims{}, fmt.Errorf("%w: expires %s", ErrTimeRange, exp.UTC().Format(time.RFC3339))
	}
	return Claims{Issuer: c.Iss, Subject: c.Sub, Audience: c.Aud}, nil
}

// key finds the issuer's key kid, fetching the issuer's documents when
// they are missing, stale, or do not have it (at most once a minute).
func (is *Issuers) key(ctx context.Context, iss, kid, forTenant string, now time.Time) (crypto.PublicKey, error) {
	var known KnownIssuer
	if is.Known != nil {
		var found bool
		var err error
		if known, found, err = is.Known.KnownIssuer(ctx, iss); err != nil {
			return nil, err
		}
		if found && known.Hosted {
			return hostedKey(iss, known.Keys, kid)
		}
		if known.TenantID != forTenant {
			known.CAs = nil
		}
	}
	entry := is.entry(iss, known.CAs)
	entry.mu.Lock()
	defer entry.mu.Unlock()
	k, have := entry.keys[kid]
	stale := now.Sub(entry.fetched) > keysFresh
	if have && !stale {
		return k, nil
	}
	if now.Sub(entry.tried) >= minRefetch || entry.fetched.IsZero() && entry.tried.IsZero() {
		entry.tried = now
		keys, err := is.fetch(ctx, iss, known.CAs)
		if err != nil {
			if have {
				// A stale key of an issuer that is down still verifies.
				return k, nil
			}
			return nil, err
		}
		entry.keys, entry.fetched = keys, now
		k, have = keys[kid]
	}
	if !have {
		return nil, fmt.Errorf("%w: no key %q among the issuer's", ErrSignature, kid)
	}
	return k, nil
}

func hostedKey(iss string, set KeySet, kid string) (crypto.PublicKey, error) {
	keys := set.verifiers()
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: berth hosts the issuer %s, and no keys have been uploaded for it", ErrIssuerUnreachable, iss)
	}
	k, ok := keys[kid]
	if !ok {
		return nil, fmt.Errorf("%w: no key %q among those uploaded for the issuer", ErrSignature, kid)
	}
	return k, nil
}

// entry is the cache of an issuer fetched trusting cas: a cluster that
// names another CA for its issuer gets a fresh fetch, not the failure of
// a minute ago.
func (is *Issuers) entry(iss string, cas []*x509.Certificate) *issuer {
	key := iss
	for _, c := range cas {
		sum := sha256.Sum256(c.Raw)
		key += "\x00" + string(sum[:])
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.byURL == nil || len(is.byURL) >= maxTrackedIssuer {
		is.byURL = map[string]*issuer{}
	}
	e := is.byURL[key]
	if e == nil {
		e = &issuer{}
		is.byURL[key] = e
	}
	return e
}

// httpClient is the client for an issuer with extra authorities cas:
// one shared client for all issuers without, a client of its own for one
// with (fetched at most once a minute, so its connections need no pool).
func (is *Issuers) httpClient(cas []*x509.Certificate) *http.Client {
	if len(cas) == 0 {
		is.once.Do(func() { is.client = newClient(is.Roots) })
		return is.client
	}
	pool := is.Roots
	if pool == nil {
		var err error
		if pool, err = x509.SystemCertPool(); err != nil {
			pool = x509.NewCertPool()
		}
	} else {
		pool = pool.Clone()
	}
	for _, c := range cas {
		pool.AddCert(c)
	}
	return newClient(pool)
}

func newClient(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: fetchTimeout,
		Transport: &http.Transport{
			TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   fetchTimeout,
			ResponseHeaderTimeout: fetchTimeout,
			MaxIdleConnsPerHost:   2,
		},
		// An issuer's documents are where it says they are: a redirect
		// could point anywhere, the server's own network included.
		CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirects are not followed") },
	}
}

func (is *Issuers) fetch(ctx context.Context, iss string, cas []*x509.Certificate) (map[string]crypto.PublicKey, error) {
	if err := httpsURL(iss); err != nil {
		return nil, fmt.Errorf("%w: issuer %s: %v", ErrIssuerUnreachable, iss, err)
	}
	client := is.httpClient(cas)
	if len(cas) > 0 {
		defer client.CloseIdleConnections()
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(ctx, client, strings.TrimSuffix(iss, "/")+"/.well-known/openid-configuration", maxDiscovery, &disc); err != nil {
		return nil, err
	}
	if disc.Issuer != iss {
		return nil, fmt.Errorf("%w: the discovery document names issuer %q, not %q", ErrIssuerUnreachable, disc.Issuer, iss)
	}
	if err := httpsURL(disc.JWKSURI); err != nil {
		return nil, fmt.Errorf("%w: jwks_uri %q: %v", ErrIssuerUnreachable, disc.JWKSURI, err)
	}
	var set KeySet
	if err := getJSON(ctx, client, disc.JWKSURI, maxKeySet, &set); err != nil {
		return nil, err
	}
	keys := set.verifiers()
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the key set of %s has no usable key", ErrIssuerUnreachable, iss)
	}
	return keys, nil
}

func httpsURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" || u.Host == "" || u.User != nil {
		return errors.New("not an https URL")
	}
	return nil
}

func getJSON(ctx context.Context, client *http.Client, u string, limit int64, v any) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrIssuerUnreachable, err)
	}
	// Key sets come as application/jwk-set+json (a Kubernetes API server
	// refuses a request that accepts only application/json).
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrIssuerUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s: %s", ErrIssuerUnreachable, u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%w: GET %s: %v", ErrIssuerUnreachable, u, err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%w: GET %s: larger than %d bytes", ErrIssuerUnreachable, u, limit)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: GET %s: %v", ErrIssuerUnreachable, u, err)
	}
	return nil
}
