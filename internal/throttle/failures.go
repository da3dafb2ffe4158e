package throttle

import (
	"context"
	"sync"
	"time"
)

// Failures throttles one kind of guess. The zero value is not usable: set
// every field.
type Failures struct {
	// Free failures within Window cost nothing.
	Free int
	// Window is how long a key's failures are remembered after its last
	// one.
	Window time.Duration
	// First is the wait after the first failure past Free, doubled after
	// each further one up to Max.
	First, Max time.Duration

	mu      sync.Mutex
	records map[string]*record
}

type record struct {
	count int
	last  time.Time
}

// maxTracked bounds memory under a spray of made-up keys: past it, the
// records start over.
const maxTracked = 100_000

// Wait is how long an attempt for key must still wait at now; 0 means it
// may be tried now.
func (f *Failures) Wait(key string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.records[key]
	if r == nil || r.count < f.Free || now.Sub(r.last) > f.Window {
		return 0
	}
	d := min(f.First<<min(r.count-f.Free, 20), f.Max)
	return max(r.last.Add(d).Sub(now), 0)
}

// Sleep waits as Wait says, or until ctx ends.
func (f *Failures) Sleep(ctx context.Context, key string) error {
	d := f.Wait(key, time.Now())
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Failed records a wrong guess for key at now.
func (f *Failures) Failed(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.records == nil || len(f.records) >= maxTracked {
		f.records = map[string]*record{}
	}
	r := f.records[key]
	if r == nil || now.Sub(r.last) > f.Window {
		r = &record{}
		f.records[key] = r
	}
	r.count++
	r.last = now
}

// Succeeded clears key's failures.
func (f *Failures) Succeeded(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.records, key)
}
