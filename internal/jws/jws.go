package jws

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/berthhq/berth/internal/keys"
)

// ErrInvalid is a token that is not one berth signed.
var ErrInvalid = errors.New("invalid token")

type invalid string

func (e invalid) Error() string { return "invalid token: " + string(e) }
func (e invalid) Unwrap() error { return ErrInvalid }

// Sign makes a compact RS256 JWT. header gets alg, typ and kid set.
func Sign(key keys.Key, header map[string]any, claims any) (string, error) {
	if header == nil {
		header = map[string]any{}
	}
	header["alg"], header["typ"], header["kid"] = "RS256", "JWT", key.ID
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key.Private, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// KeySource finds a published key by id.
type KeySource interface {
	Verifying(ctx context.Context, kid string, now time.Time) (keys.Key, bool, error)
}

// Verify checks that token is an RS256 JWT signed by a key src publishes
// at now, and decodes its claims into claims. It does not look at what the
// claims say.
func Verify(ctx context.Context, src KeySource, token string, now time.Time, claims any) error {
	t, err := Parse(token)
	if err != nil {
		return err
	}
	// Only what berth signs with: this also refuses "none" and the HMAC
	// algorithms that would take the public key as a shared secret.
	if t.Header.Alg != "RS256" {
		return invalid("algorithm " + t.Header.Alg)
	}
	key, ok, err := src.Verifying(ctx, t.Header.Kid, now)
	if err != nil {
		return err
	}
	if !ok {
		return invalid("signature")
	}
	if err := t.VerifyRSA(&key.Private.PublicKey); err != nil {
		return err
	}
	return t.Claims(claims)
}

// DecodeSegment decodes one base64url JSON part of a JWT.
func DecodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	return json.Unmarshal(b, v)
}
