package registryauth

import (
	"math"
	"sync"
	"time"
)

// Throttle limits each identity to Rate requests per second on average,
// with bursts of up to Burst: a token bucket per identity. A zero Rate
// throttles nothing.
type Throttle struct {
	Rate  float64
	Burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the memory of identities seen; past it, buckets idle
// long enough to be full again are dropped.
const maxBuckets = 100_000

// Take spends one request of key's budget. If none is left, it returns how
// long until one is.
func (t *Throttle) Take(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if t == nil || t.Rate <= 0 {
		return true, 0
	}
	burst := max(t.Burst, 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.buckets == nil {
		t.buckets = map[string]*bucket{}
	}
	b, found := t.buckets[key]
	if !found {
		if len(t.buckets) >= maxBuckets {
			t.sweep(now, burst)
		}
		b = &bucket{tokens: burst, at: now}
		t.buckets[key] = b
	}
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.at).Seconds()*t.Rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / t.Rate * float64(time.Second))
}

func (t *Throttle) sweep(now time.Time, burst float64) {
	for k, b := range t.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*t.Rate >= burst {
			delete(t.buckets, k)
		}
	}
}
