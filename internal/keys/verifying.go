package keys

import (
	"context"
	"time"
)

// minReload spaces out the store reads that unknown key ids trigger, so
// that tokens with made-up kids cannot turn every request into one.
const minReload = time.Second

// Verifying returns the published key with id kid, for checking a token's
// signature. It serves from the cached key set, and reads the store again
// only for a kid it does not know: a key another process rotated in.
func (r *Ring) Verifying(ctx context.Context, kid string, now time.Time) (Key, bool, error) {
	keys, err := r.load(ctx, false)
	if err != nil {
		return Key{}, false, err
	}
	if k, ok := published(keys, kid, now); ok {
		return k, true, nil
	}
	r.mu.Lock()
	stale := time.Since(r.loaded) >= minReload
	r.mu.Unlock()
	if !stale {
		return Key{}, false, nil
	}
	if keys, err = r.load(ctx, true); err != nil {
		return Key{}, false, err
	}
	k, ok := published(keys, kid, now)
	return k, ok, nil
}

func published(keys []Key, kid string, now time.Time) (Key, bool) {
	for _, k := range keys {
		if k.ID == kid && (k.RetireAt.IsZero() || k.RetireAt.After(now)) {
			return k, true
		}
	}
	return Key{}, false
}
