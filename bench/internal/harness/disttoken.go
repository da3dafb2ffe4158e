package harness

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

// TokenIssuer is the token server a Distribution with token auth sends its
// clients to, as a deployment's auth server would be. It grants whatever
// scope is asked for, to anyone: Distribution's cost of verifying the
// token is what is measured, not an auth server's. Its tokens are what
// Distribution's token auth expects: RS256 JWTs whose kid is the RFC 7638
// thumbprint of the key in its rootcertbundle, with iss, sub, aud, exp, nbf,
// iat, jti and access claims.
type TokenIssuer struct {
	URL     string // https://127.0.0.1:PORT; the realm is URL + "/token"
	Service string // the aud of every token, Distribution's "service"
	Issuer  string // the iss of every token
	// CertPEM is a self-signed certificate for the signing key: the
	// rootcertbundle Distribution trusts.
	CertPEM []byte

	key    *rsa.PrivateKey
	header string // base64url of the JWT header, the same for every token
	srv    *http.Server
}

// tokenLifetime is long enough for any run, so no token expires mid-row.
const tokenLifetime = time.Hour

// NewTokenIssuer generates an RSA-2048 signing key and serves tokens for
// service over TLS with a certificate from ca, on a free loopback port.
func NewTokenIssuer(ca *CA, service string) (*TokenIssuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "berth bench token signer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": jwkThumbprint(&key.PublicKey)})
	if err != nil {
		return nil, err
	}
	tlsConfig, err := ca.LoopbackTLS()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &TokenIssuer{
		URL:     "https://" + ln.Addr().String(),
		Service: service,
		Issuer:  "berth-bench-token-issuer",
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:     key,
		header:  base64.RawURLEncoding.EncodeToString(header),
	}
	t.srv = &http.Server{Handler: t, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	go t.srv.ServeTLS(ln, "", "")
	return t, nil
}

// Close stops serving tokens.
func (t *TokenIssuer) Close() error { return t.srv.Close() }

// jwkThumbprint is the key id Distribution derives from each key in its
// rootcertbundle (RFC 7638 with SHA-256).
func jwkThumbprint(pub *rsa.PublicKey) string {
	e := big.NewInt(int64(pub.E)).Bytes()
	jwk := fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`,
		base64.RawURLEncoding.EncodeToString(e), base64.RawURLEncoding.EncodeToString(pub.N.Bytes()))
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// resourceActions is one entry of a token's access claim.
type resourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Mint signs a token for subject granting access.
func (t *TokenIssuer) Mint(subject string, access []resourceActions) (string, error) {
	var jti [16]byte
	rand.Read(jti[:])
	now := time.Now()
	claims, err := json.Marshal(struct {
		Issuer    string            `json:"iss"`
		Subject   string            `json:"sub"`
		Audience  string            `json:"aud"`
		Expires   int64             `json:"exp"`
		NotBefore int64             `json:"nbf"`
		IssuedAt  int64             `json:"iat"`
		ID        string            `json:"jti"`
		Access    []resourceActions `json:"access"`
	}{t.Issuer, subject, t.Service, now.Add(tokenLifetime).Unix(), now.Unix(), now.Unix(), hex.EncodeToString(jti[:]), access})
	if err != nil {
		return "", err
	}
	signed := t.header + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(nil, t.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ServeHTTP answers GET /token?service=S&scope=repository:NAME:ACTIONS, the
// request docker sends to a registry's realm, granting every scope asked
// for.
func (t *TokenIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	if q.Get("service") != t.Service {
		http.Error(w, fmt.Sprintf("service %q is not %q", q.Get("service"), t.Service), http.StatusBadRequest)
		return
	}
	access := []resourceActions{}
	for _, scope := range q["scope"] {
		typ, rest, ok1 := strings.Cut(scope, ":")
		name, actions, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			http.Error(w, fmt.Sprintf("malformed scope %q", scope), http.StatusBadRequest)
			return
		}
		access = append(access, resourceActions{Type: typ, Name: name, Actions: strings.Split(actions, ",")})
	}
	token, err := t.Mint("bench", access)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"token":      token,
		"expires_in": int(tokenLifetime.Seconds()),
		"issued_at":  time.Now().UTC().Format(time.RFC3339),
	})
}
