package federation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
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
// its time range at now, and returns its claims.
func (is *Issuers) Verify(ctx context.Context, token string, now time.Time) (Claims, error) {
	t, c, err := parse(token)
	if err != nil {
		return Claims{}, err
	}
	if c.Exp == nil {
		return Claims{}, fmt.Errorf("%w: no exp", ErrMalformed)
	}
	key, err := is.key(ctx, c.Iss, t.Header.Kid, now)
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
func (is *Issuers) key(ctx context.Context, iss, kid string, now time.Time) (crypto.PublicKey, error) {
	entry := is.entry(iss)
	entry.mu.Lock()
	defer entry.mu.Unlock()
	k, have := entry.keys[kid]
	stale := now.Sub(entry.fetched) > keysFresh
	if have && !stale {
		return k, nil
	}
	if now.Sub(entry.tried) >= minRefetch || entry.fetched.IsZero() && entry.tried.IsZero() {
		entry.tried = now
		keys, err := is.fetch(ctx, iss)
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

func (is *Issuers) entry(iss string) *issuer {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.byURL == nil || len(is.byURL) >= maxTrackedIssuer {
		is.byURL = map[string]*issuer{}
	}
	e := is.byURL[iss]
	if e == nil {
		e = &issuer{}
		is.byURL[iss] = e
	}
	return e
}

func (is *Issuers) httpClient() *http.Client {
	is.once.Do(func() {
		is.client = &http.Client{
			Timeout: fetchTimeout,
			Transport: &http.Transport{
				TLSClientConfig:       &tls.Config{RootCAs: is.Roots, MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout:   fetchTimeout,
				ResponseHeaderTimeout: fetchTimeout,
				MaxIdleConnsPerHost:   2,
			},
			// An issuer's documents are where it says they are: a
			// redirect could point anywhere, the server's own network
			// included.
			CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirects are not followed") },
		}
	})
	return is.client
}

func (is *Issuers) fetch(ctx context.Context, iss string) (map[string]crypto.PublicKey, error) {
	if err := httpsURL(iss); err != nil {
		return nil, fmt.Errorf("%w: issuer %s: %v", ErrIssuerUnreachable, iss, err)
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := is.getJSON(ctx, strings.TrimSuffix(iss, "/")+"/.well-known/openid-configuration", maxDiscovery, &disc); err != nil {
		return nil, err
	}
	if disc.Issuer != iss {
		return nil, fmt.Errorf("%w: the discovery document names issuer %q, not %q", ErrIssuerUnreachable, disc.Issuer, iss)
	}
	if err := httpsURL(disc.JWKSURI); err != nil {
		return nil, fmt.Errorf("%w: jwks_uri %q: %v", ErrIssuerUnreachable, disc.JWKSURI, err)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := is.getJSON(ctx, disc.JWKSURI, maxKeySet, &set); err != nil {
		return nil, err
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		if pub, ok := k.public(); ok && (k.Use == "" || k.Use == "sig") {
			keys[k.Kid] = pub
		}
	}
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

func (is *Issuers) getJSON(ctx context.Context, u string, limit int64, v any) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrIssuerUnreachable, err)
	}
	// Key sets come as application/jwk-set+json (a Kubernetes API server
	// refuses a request that accepts only application/json).
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := is.httpClient().Do(req)
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

// jwk is one key of a JSON Web Key Set: RSA, or EC on P-256.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (k jwk) public() (crypto.PublicKey, bool) {
	b := func(s string) *big.Int {
		v, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(v) == 0 {
			return nil
		}
		return new(big.Int).SetBytes(v)
	}
	switch k.Kty {
	case "RSA":
		n, e := b(k.N), b(k.E)
		if n == nil || e == nil || n.BitLen() < 2048 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 {
			return nil, false
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, true
	case "EC":
		x, y := b(k.X), b(k.Y)
		if k.Crv != "P-256" || x == nil || y == nil || x.BitLen() > 256 || y.BitLen() > 256 {
			return nil, false
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x.FillBytes(make([]byte, 32))...), y.FillBytes(make([]byte, 32))...))
		if err != nil {
			return nil, false
		}
		return pub, true
	}
	return nil, false
}
