package sqlstore

import "sync"

// versionedCache keeps reads made at a version of the tables they read.
// The version is bumped after every write through this handle to those
// tables, so an entry is good while the version has not moved. That holds
// only while this handle is the tables' one writer: true of SQLite, which
// one server owns, not of PostgreSQL, which replicas share and where the
// caches are not used (DB.cacheable).
type versionedCache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]versioned[V]
}

// maxCacheEntries bounds each cache: past it, the cache starts over
// rather than grow with everything ever read.
const maxCacheEntries = 10_000

type versioned[V any] struct {
	version uint64
	value   V
}

func (c *versionedCache[K, V]) get(k K, version uint64) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || e.version != version {
		var zero V
		return zero, false
	}
	return e.value, true
}

// put keeps v under k, read at version: the version read before the
// store was, so that a write in between makes the entry stale at once.
func (c *versionedCache[K, V]) put(k K, version uint64, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCacheEntries {
		c.m = make(map[K]versioned[V])
	}
	c.m[k] = versioned[V]{version: version, value: v}
}

// cacheable reports whether this handle is the one writer of its
// database, which the versioned caches need.
func (db *DB) cacheable() bool { return db.group != nil }
