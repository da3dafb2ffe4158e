package cache

import (
	"sync"
	"time"
)

// DefaultMaxBytes bounds a cache that sets no bound of its own.
const DefaultMaxBytes = 32 << 20

// entryOverhead is what an entry costs beyond its measured size: the map
// slot, the key and the bookkeeping.
const entryOverhead = 128

// Cache maps keys to values read from a store. The zero value is an
// empty cache of DefaultMaxBytes.
type Cache[K comparable, V any] struct {
	// MaxBytes bounds the entries' sizes, overhead included; 0 means
	// DefaultMaxBytes.
	MaxBytes int64

	mu    sync.Mutex
	m     map[K]entry[V]
	bytes int64
}

type entry[V any] struct {
	value   V
	version uint64
	expires time.Time
	size    int64
}

// Get returns k's value if it was put at version and, if it has an
// expiry, now is before it.
func (c *Cache[K, V]) Get(k K, version uint64, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || e.version != version || !e.expires.IsZero() && !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Put keeps v under k, read at version, until expires (never, if zero).
// size is what v costs in bytes; a value larger than the whole cache is
// not kept. Room is made by evicting entries at random: under a flood of
// new keys the cache keeps working for the keys in use, at a cost.
func (c *Cache[K, V]) Put(k K, v V, version uint64, expires time.Time, size int) {
	cost := int64(size) + entryOverhead
	limit := c.MaxBytes
	if limit == 0 {
		limit = DefaultMaxBytes
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cost > limit {
		return
	}
	if c.m == nil {
		c.m = make(map[K]entry[V])
	}
	if old, ok := c.m[k]; ok {
		c.bytes -= old.size
		delete(c.m, k)
	}
	for victim, e := range c.m {
		if c.bytes+cost <= limit {
			break
		}
		c.bytes -= e.size
		delete(c.m, victim)
	}
	c.m[k] = entry[V]{value: v, version: version, expires: expires, size: cost}
	c.bytes += cost
}

// Delete forgets k.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.bytes -= e.size
		delete(c.m, k)
	}
}

// Bytes is what the entries cost now.
func (c *Cache[K, V]) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
