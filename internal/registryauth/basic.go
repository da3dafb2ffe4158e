package registryauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/berthhq/berth/internal/ociapi"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
)

var errBadCredentials = errors.New("invalid username or password")

// BasicGate authorizes registry administrators by Basic credentials.
type BasicGate struct {
	Directory store.Directory
	// Administrators are the application ids with full access.
	Administrators map[string]bool
	// Realm names the registry in the Basic challenge.
	Realm string

	// verified caches recent successful checks, keyed by a hash of the
	// credentials, so that a busy client costs a map lookup per request
	// rather than two queries. Entries expire, so a removed secret stops
	// working within cacheTTL.
	mu       sync.Mutex
	verified map[[32]byte]time.Time
}

const cacheTTL = 30 * time.Second

var _ ociapi.Authorizer = (*BasicGate)(nil)

func (g *BasicGate) challenge() error {
	return &ociapi.ChallengeError{Challenge: `Basic realm="` + g.Realm + `"`, Err: errBadCredentials}
}

// Authorize implements ociapi.Authorizer.
func (g *BasicGate) Authorize(r *http.Request, _ string, _ ociapi.Access) error {
	user, pass, ok := r.BasicAuth()
	if !ok || !g.Administrators[user] {
		return g.challenge()
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	now := time.Now()
	g.mu.Lock()
	exp, hit := g.verified[key]
	g.mu.Unlock()
	if hit && now.Before(exp) {
		return nil
	}
	if !g.check(r.Context(), user, pass, now) {
		return g.challenge()
	}
	g.mu.Lock()
	if g.verified == nil || len(g.verified) > 10_000 {
		g.verified = map[[32]byte]time.Time{}
	}
	g.verified[key] = now.Add(cacheTTL)
	g.mu.Unlock()
	return nil
}

func (g *BasicGate) check(ctx context.Context, appID, pass string, now time.Time) bool {
	app, err := g.Directory.GetApplicationByAppID(ctx, appID)
	if err != nil {
		return false
	}
	creds, err := g.Directory.ListPasswordCredentials(ctx, app.ObjectID)
	if err != nil {
		return false
	}
	for _, c := range creds {
		if now.Before(c.StartDateTime) || now.After(c.EndDateTime) {
			continue
		}
		if secret.Verify(pass, c.Salt, c.Hash) {
			return true
		}
	}
	return false
}
