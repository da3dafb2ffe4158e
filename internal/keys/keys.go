package keys

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/berthhq/berth/internal/store"
)

// ErrNoKey means no key may sign yet.
var ErrNoKey = errors.New("no signing key is active")

// Key is a usable signing key.
type Key struct {
	// ID is the key id (kid), the base64url SHA-1 thumbprint of its
	// certificate, which is also its x5t.
	ID          string
	Private     *rsa.PrivateKey
	Certificate []byte
	SignsFrom   time.Time
	RetireAt    time.Time
}

// Ring is the set of signing keys, reloaded from the store at most every
// refresh so that a rotation done by another process is seen.
type Ring struct {
	Store store.Keys
	// MaxTokenLifetime is how long after a rotation the old key must
	// stay published.
	MaxTokenLifetime time.Duration

	mu     sync.Mutex
	keys   []Key
	loaded time.Time
}

const refresh = 30 * time.Second

// Ensure creates a first key, signing at once, if the store has none.
func (r *Ring) Ensure(ctx context.Context) error {
	keys, err := r.Store.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		return nil
	}
	now := time.Now()
	_, err = r.add(ctx, now, now)
	return err
}

// Rotate adds a key that is published now and signs after publishFor, and
// schedules the keys that sign today to retire once the last token they
// can sign has expired. It returns the new key's id.
func (r *Ring) Rotate(ctx context.Context, publishFor time.Duration) (string, error) {
	keys, err := r.load(ctx, true)
	if err != nil {
		return "", err
	}
	now := time.Now()
	k, err := r.add(ctx, now, now.Add(publishFor))
	if err != nil {
		return "", err
	}
	retire := k.SignsFrom.Add(r.MaxTokenLifetime)
	for _, old := range keys {
		if old.RetireAt.IsZero() || old.RetireAt.After(retire) {
			if err := r.Store.RetireSigningKey(ctx, old.ID, retire); err != nil {
				return "", err
			}
		}
	}
	r.mu.Lock()
	r.loaded = time.Time{}
	r.mu.Unlock()
	return k.ID, nil
}

func (r *Ring) add(ctx context.Context, now, signsFrom time.Time) (Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Key{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "berth token signing"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return Key{}, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, err
	}
	k := Key{ID: Thumbprint(der), Private: priv, Certificate: der, SignsFrom: signsFrom}
	err = r.Store.CreateSigningKey(ctx, store.SigningKey{ID: k.ID, Certificate: der, PrivateKey: pkcs8, CreatedAt: now, SignsFrom: signsFrom})
	return k, err
}

// Thumbprint is the base64url SHA-1 of a certificate (x5t).
func Thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (r *Ring) load(ctx context.Context, force bool) ([]Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !force && time.Since(r.loaded) < refresh && r.keys != nil {
		return r.keys, nil
	}
	stored, err := r.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]Key, 0, len(stored))
	for _, s := range stored {
		priv, err := x509.ParsePKCS8PrivateKey(s.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", s.ID, err)
		}
		rsaKey, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key %s is not RSA", s.ID)
		}
		keys = append(keys, Key{ID: s.ID, Private: rsaKey, Certificate: s.Certificate, SignsFrom: s.SignsFrom, RetireAt: s.RetireAt})
	}
	r.keys, r.loaded = keys, time.Now()
	return keys, nil
}

// Signing returns the key that signs at now: of the keys whose signing has
// begun, the newest.
func (r *Ring) Signing(ctx context.Context, now time.Time) (Key, error) {
	keys, err := r.load(ctx, false)
	if err != nil {
		return Key{}, err
	}
	var best *Key
	for i := range keys {
		k := &keys[i]
		if k.SignsFrom.After(now) || (!k.RetireAt.IsZero() && !k.RetireAt.After(now)) {
			continue
		}
		if best == nil || k.SignsFrom.After(best.SignsFrom) {
			best = k
		}
	}
	if best == nil {
		return Key{}, ErrNoKey
	}
	return *best, nil
}

// Published returns the keys verifiers must know at now. It always reads
// the store: verifiers fetch the key set rarely, and a key rotated in by
// another process must be published at once, well before it signs.
func (r *Ring) Published(ctx context.Context, now time.Time) ([]Key, error) {
	keys, err := r.load(ctx, true)
	if err != nil {
		return nil, err
	}
	var out []Key
	for _, k := range keys {
		if k.RetireAt.IsZero() || k.RetireAt.After(now) {
			out = append(out, k)
		}
	}
	return out, nil
}
