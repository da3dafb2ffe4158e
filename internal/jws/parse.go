package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
)

// maxTokenLength bounds what Parse decodes: the largest tokens berth
// issues or accepts are a few kilobytes.
const maxTokenLength = 64 << 10

// Header is what berth reads of a JWT's header.
type Header struct {
	Alg     string `json:"alg"`
	Kid     string `json:"kid"`
	X5t     string `json:"x5t"`
	X5tS256 string `json:"x5t#S256"`
}

// Token is a compact JWT split and decoded, its signature not yet
// checked. Every JWT berth reads, its own or a client's, goes through
// Parse and one of the Verify methods.
type Token struct {
	Header Header
	claims []byte
	signed string // header.claims, what the signature covers
	sig    []byte
}

// Parse splits and decodes a compact JWT. It checks the form only.
func Parse(token string) (Token, error) {
	if len(token) > maxTokenLength {
		return Token{}, invalid("longer than 64 KiB")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Token{}, invalid("not a compact JWT")
	}
	var t Token
	if err := DecodeSegment(parts[0], &t.Header); err != nil {
		return Token{}, invalid("header: " + err.Error())
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !json.Valid(claims) {
		return Token{}, invalid("claims are not base64url JSON")
	}
	if t.sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return Token{}, invalid("signature encoding")
	}
	t.claims, t.signed = claims, parts[0]+"."+parts[1]
	return t, nil
}

// Claims decodes the claims into v.
func (t Token) Claims(v any) error {
	if err := json.Unmarshal(t.claims, v); err != nil {
		return invalid("claims: " + err.Error())
	}
	return nil
}

// VerifyRSA checks an RS256 or PS256 signature (the header's alg) by pub.
// Which algorithms are acceptable is the caller's decision, made before:
// never the key's.
func (t Token) VerifyRSA(pub *rsa.PublicKey) error {
	sum := sha256.Sum256([]byte(t.signed))
	var err error
	switch t.Header.Alg {
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], t.sig)
	case "PS256":
		// Signers pick the salt length (MSAL Go's equals the hash, others
		// the maximum); the PSS encoding says which.
		err = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], t.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return invalid("algorithm " + t.Header.Alg)
	}
	if err != nil {
		return invalid("signature")
	}
	return nil
}

// VerifyES256 checks an ES256 signature by pub.
func (t Token) VerifyES256(pub *ecdsa.PublicKey) error {
	if t.Header.Alg != "ES256" {
		return invalid("algorithm " + t.Header.Alg)
	}
	if len(t.sig) != 64 {
		return invalid("signature length")
	}
	sum := sha256.Sum256([]byte(t.signed))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(t.sig[:32]), new(big.Int).SetBytes(t.sig[32:])) {
		return invalid("signature")
	}
	return nil
}

// Audience is a JWT's aud claim, which may be one string or an array.
type Audience []string

func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}
