package sts

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/jws"
	"github.com/berthhq/berth/internal/store"
)

// ClientAssertionType is the only client_assertion_type the token endpoint
// takes: a JWT signed with a certificate registered on the application.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionSkew tolerates clocks that disagree a little: the client signs
// with its own clock and the assertion may spend a moment in flight.
const assertionSkew = 5 * time.Minute

// assertionError carries what the caller may be told about a rejected
// assertion (thumbprints, claim values, times: nothing secret) next to the
// sentinel that picks the wire code.
type assertionError struct {
	err    error
	detail string
}

func (e assertionError) Error() string { return e.err.Error() + ": " + e.detail }
func (e assertionError) Unwrap() error { return e.err }

func rejectAssertion(err error, format string, args ...any) error {
	return assertionError{err, fmt.Sprintf(format, args...)}
}

// NewKeyCredential describes a DER certificate as a key credential of the
// application, valid for as long as the certificate is.
func NewKeyCredential(appObjectID, displayName string, der []byte) (store.KeyCredential, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return store.KeyCredential{}, err
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		// Assertions are RS256 or PS256; another key type could never
		// verify one.
		return store.KeyCredential{}, errors.New("the certificate's key is not an RSA key")
	}
	if displayName == "" {
		displayName = cert.Subject.String()
	}
	s1, s256 := sha1.Sum(der), sha256.Sum256(der)
	return store.KeyCredential{
		KeyID: ids.New(), AppObjectID: appObjectID, DisplayName: displayName,
		Type: store.KeyTypeX509Cert, Usage: store.KeyUsageVerify, Certificate: der,
		Thumbprint:       base64.RawURLEncoding.EncodeToString(s1[:]),
		ThumbprintSHA256: base64.RawURLEncoding.EncodeToString(s256[:]),
		StartDateTime:    cert.NotBefore.UTC(), EndDateTime: cert.NotAfter.UTC(),
	}, nil
}

// checkAssertion authenticates the application by its client assertion.
func (s *Service) checkAssertion(ctx context.Context, req ClientCredentials, tenant store.Tenant, app store.Application, now time.Time) error {
	if req.ClientAssertionType != ClientAssertionType {
		return fmt.Errorf("%w: client_assertion_type must be %s", ErrInvalidRequest, ClientAssertionType)
	}
	if req.ClientAssertion == "" {
		return missing("client_assertion")
	}
	// An application signs its own assertions as their issuer; any other
	// issuer is one it trusts through a federated credential.
	if c, err := federation.Unverified(req.ClientAssertion); err == nil && !strings.EqualFold(c.Issuer, app.AppID) {
		return s.checkFederated(ctx, tenant.ID, app, req.ClientAssertion, c, now)
	}
	creds, err := s.Directory.ListKeyCredentials(ctx, app.ObjectID)
	if err != nil {
		return err
	}
	// The audience is the token endpoint the client was sent to: either
	// version, naming the tenant as the URL did (or by its id or domain,
	// which is the same endpoint).
	var auds []string
	for _, t := range []string{req.Tenant, tenant.ID, tenant.Domain} {
		if t != "" {
			auds = append(auds, req.Authority+"/"+t+"/oauth2/token", req.Authority+"/"+t+"/oauth2/v2.0/token")
		}
	}
	return verifyAssertion(req.ClientAssertion, app.AppID, auds, creds, now)
}

type assertionClaims struct {
	Iss string       `json:"iss"`
	Sub string       `json:"sub"`
	Aud jws.Audience `json:"aud"`
	Jti string       `json:"jti"`
	Exp numericDate  `json:"exp"`
	Nbf numericDate  `json:"nbf"`
}

// numericDate is seconds since the epoch; fractions are allowed and dropped.
type numericDate struct {
	set bool
	t   time.Time
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return errors.New("numeric date out of range")
	}
	*d = numericDate{true, time.Unix(int64(f), 0).UTC()}
	return nil
}

// verifyAssertion checks a compact JWT client assertion: signed (RS256 or
// PS256) by one of creds, found by its thumbprint header; issued by and
// about clientID, for one of audiences, within its time range at now.
func verifyAssertion(assertion, clientID string, audiences []string, creds []store.KeyCredential, now time.Time) error {
	tok, err := jws.Parse(assertion)
	if err != nil {
		return rejectAssertion(ErrAssertionMalformed, "%v", err)
	}
	var c assertionClaims
	if err := tok.Claims(&c); err != nil {
		return rejectAssertion(ErrAssertionMalformed, "%v", err)
	}
	// The algorithm is decided here, never by what the key could do: alg
	// none and the HMAC algorithms (keyed with the public certificate)
	// are the classic ways to forge an assertion.
	if tok.Header.Alg != "RS256" && tok.Header.Alg != "PS256" {
		return rejectAssertion(ErrAssertionSignature, "unsupported signing algorithm '%s'", tok.Header.Alg)
	}
	cred, err := findKeyCredential(tok.Header, creds, now)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(cred.Certificate)
	if err != nil {
		return fmt.Errorf("key credential %s: %w", cred.KeyID, err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return rejectAssertion(ErrAssertionSignature, "the certificate's key is not an RSA key")
	}
	if tok.VerifyRSA(pub) != nil {
		return rejectAssertion(ErrAssertionSignature, "client assertion failed signature validation")
	}
	if !strings.EqualFold(c.Iss, clientID) {
		return rejectAssertion(ErrAssertionIssuer, "%s", c.Iss)
	}
	if !strings.EqualFold(c.Sub, clientID) {
		return rejectAssertion(ErrAssertionSubject, "%s", c.Sub)
	}
	if !audienceMatches(c.Aud, audiences) {
		return rejectAssertion(ErrAssertionAudience, "%s", strings.Join(c.Aud, ", "))
	}
	if !c.Exp.set {
		return rejectAssertion(ErrAssertionMalformed, "the assertion has no exp claim")
	}
	if now.After(c.Exp.t.Add(assertionSkew)) || (c.Nbf.set && now.Add(assertionSkew).Before(c.Nbf.t)) {
		from := time.Unix(0, 0).UTC()
		if c.Nbf.set {
			from = c.Nbf.t
		}
		return rejectAssertion(ErrAssertionTimeRange, "Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339), from.Format(time.RFC3339), c.Exp.t.Format(time.RFC3339))
	}
	if c.Jti == "" {
		return rejectAssertion(ErrAssertionMalformed, "the assertion has no jti claim")
	}
	return nil
}

// findKeyCredential finds the certificate the header names, preferring
// the SHA-256 thumbprint when both are given.
func findKeyCredential(h jws.Header, creds []store.KeyCredential, now time.Time) (store.KeyCredential, error) {
	given, sha256Print := h.X5tS256, true
	if given == "" {
		given, sha256Print = h.X5t, false
	}
	if given == "" {
		return store.KeyCredential{}, rejectAssertion(ErrAssertionKeyNotFound, "the assertion names no certificate (x5t or x5t#S256)")
	}
	want := decodeThumbprint(given)
	for _, c := range creds {
		if c.Type != store.KeyTypeX509Cert || c.Usage != store.KeyUsageVerify {
			continue
		}
		stored := c.Thumbprint
		if sha256Print {
			stored = c.ThumbprintSHA256
		}
		have, err := base64.RawURLEncoding.DecodeString(stored)
		if err != nil || want == nil || !bytes.Equal(have, want) {
			continue
		}
		if now.Before(c.StartDateTime) || now.After(c.EndDateTime) {
			return store.KeyCredential{}, rejectAssertion(ErrAssertionKeyNotFound, "the key with thumbprint '%s' is not within its valid time range", given)
		}
		return c, nil
	}
	return store.KeyCredential{}, rejectAssertion(ErrAssertionKeyNotFound, "thumbprint of key used by client: '%s'", given)
}

// decodeThumbprint reads a thumbprint header. RFC 7515 says base64url, but
// MSAL Go sends padded standard base64 and older clients hex: each is
// unambiguous once decoded, so all are taken.
func decodeThumbprint(s string) []byte {
	if len(s) == 2*sha1.Size || len(s) == 2*sha256.Size {
		if b, err := hex.DecodeString(s); err == nil {
			return b
		}
	}
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

func audienceMatches(got jws.Audience, want []string) bool {
	for _, g := range got {
		for _, w := range want {
			if strings.EqualFold(g, w) {
				return true
			}
		}
	}
	return false
}
