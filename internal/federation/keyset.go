package federation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
)

// Limits of a key set an operator uploads for an issuer berth hosts: a
// cluster signs with one key and publishes a few more while it rotates.
const (
	MaxUploadKeys  = 16
	MaxUploadBytes = 64 << 10
)

// ErrBadKeys is a key upload berth refuses; the message says why.
var ErrBadKeys = errors.New("bad verification keys")

// KeySet is a JSON Web Key Set of verification keys, as issuers publish
// them at their jwks_uri.
type KeySet struct {
	Keys []JWK `json:"keys"`
}

// JWK is one key of a set: RSA, or EC on P-256.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// verifiers are the set's signature keys by key id; keys berth cannot
// verify with (too short, another curve, another use) are left out.
func (s KeySet) verifiers() map[string]crypto.PublicKey {
	keys := map[string]crypto.PublicKey{}
	for _, k := range s.Keys {
		if pub, ok := k.public(); ok && (k.Use == "" || k.Use == "sig") {
			keys[k.Kid] = pub
		}
	}
	return keys
}

func (k JWK) public() (crypto.PublicKey, bool) {
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

// ParseKeys reads the verification keys an operator uploads for an
// issuer berth hosts: a JSON Web Key Set (what an API server serves at
// /openid/v1/jwks), or PEM public keys (what --service-account-key-file
// holds: PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE blocks). It returns
// them as the key set berth serves, each key marked for signatures with
// its algorithm; a PEM key's id is the one a Kubernetes API server puts
// in its tokens (the SHA-256 of the key's PKIX encoding). Every key must
// be one berth verifies with: RSA of 2048 bits or more, or EC on P-256.
// Any other input is ErrBadKeys, saying what is wrong.
func ParseKeys(data []byte) (KeySet, error) {
	if len(data) > MaxUploadBytes {
		return KeySet{}, badKeys("the keys are larger than %d bytes", MaxUploadBytes)
	}
	var pubs []crypto.PublicKey
	var kids []string
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var set KeySet
		dec := json.NewDecoder(bytes.NewReader(t))
		if err := dec.Decode(&set); err != nil {
			return KeySet{}, badKeys("not a JSON Web Key Set: %v", err)
		}
		if dec.More() {
			return KeySet{}, badKeys("not a JSON Web Key Set: data after the set")
		}
		for i, k := range set.Keys {
			pub, ok := k.public()
			if !ok {
				return KeySet{}, badKeys("key %d (kid %q): berth verifies with RSA keys of 2048 bits or more and EC keys on P-256 only", i+1, k.Kid)
			}
			if k.Use != "" && k.Use != "sig" {
				return KeySet{}, badKeys("key %d (kid %q) is for use %q, not signatures", i+1, k.Kid, k.Use)
			}
			pubs, kids = append(pubs, pub), append(kids, k.Kid)
		}
	} else {
		for rest := data; len(bytes.TrimSpace(rest)) > 0; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				return KeySet{}, badKeys("neither a JSON Web Key Set nor PEM public keys")
			}
			pub, err := pemPublicKey(block)
			if err != nil {
				return KeySet{}, err
			}
			pubs, kids = append(pubs, pub), append(kids, "")
		}
	}
	if len(pubs) == 0 {
		return KeySet{}, badKeys("no keys")
	}
	if len(pubs) > MaxUploadKeys {
		return KeySet{}, badKeys("%d keys: at most %d", len(pubs), MaxUploadKeys)
	}
	out := KeySet{Keys: []JWK{}}
	seen := map[string]bool{}
	for i, pub := range pubs {
		k, err := toJWK(pub, kids[i])
		if err != nil {
			return KeySet{}, err
		}
		if seen[k.Kid] {
			continue
		}
		seen[k.Kid] = true
		out.Keys = append(out.Keys, k)
	}
	return out, nil
}

func badKeys(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadKeys, fmt.Sprintf(format, args...))
}

func pemPublicKey(block *pem.Block) (crypto.PublicKey, error) {
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		// Refused before it goes anywhere: the issuer's documents are
		// public, and berth keeps no private key of a cluster's.
		return nil, badKeys("a %s block: give the public half only (openssl pkey -pubout)", block.Type)
	default:
		return nil, badKeys("a PEM block of type %q, not a public key", block.Type)
	}
	if err != nil {
		return nil, badKeys("a %s block: %v", block.Type, err)
	}
	return pub, nil
}

// KeySetOf is the set of the keys given by their key ids, each one berth
// verifies with.
func KeySetOf(keys map[string]crypto.PublicKey) (KeySet, error) {
	set := KeySet{Keys: []JWK{}}
	for kid, pub := range keys {
		j, err := toJWK(pub, kid)
		if err != nil {
			return KeySet{}, err
		}
		set.Keys = append(set.Keys, j)
	}
	return set, nil
}

// toJWK is pub as a signature key of the set berth serves; kid "" is
// the key's own id as Kubernetes computes it.
func toJWK(pub crypto.PublicKey, kid string) (JWK, error) {
	if kid == "" {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return JWK{}, badKeys("%v", err)
		}
		sum := sha256.Sum256(der)
		kid = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	enc := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return JWK{}, badKeys("an RSA key of %d bits: at least 2048", k.N.BitLen())
		}
		j := JWK{Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256", N: enc(k.N.Bytes()), E: enc(big.NewInt(int64(k.E)).Bytes())}
		if _, ok := j.public(); !ok {
			return JWK{}, badKeys("an RSA key with the exponent %d", k.E)
		}
		return j, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return JWK{}, badKeys("an EC key on %s: berth verifies EC keys on P-256 only", k.Curve.Params().Name)
		}
		raw, err := k.Bytes()
		if err != nil {
			return JWK{}, badKeys("%v", err)
		}
		return JWK{Kty: "EC", Kid: kid, Use: "sig", Alg: "ES256", Crv: "P-256", X: enc(raw[1:33]), Y: enc(raw[33:])}, nil
	}
	return JWK{}, badKeys("a %T key: berth verifies with RSA and EC keys only", pub)
}
