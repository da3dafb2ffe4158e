package sqlstore

import (
	"time"

	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/cache"
)

// Version reports how often t's tables were written through this handle.
// It vouches for what a cache keeps only while this handle is the
// database's one writer: true of SQLite, which one server owns (berth gc,
// fsck and tenant create, run beside a server, write nothing that was read
// before), not of PostgreSQL, which replicas share.
func (db *DB) Version(t store.Tables) (v uint64, ok bool) {
	return db.versions[t].Load(), db.group != nil
}

// written is deferred by every write to t's tables. It runs after the
// commit, failed or not, so that no cache keeps what a committed write
// changed.
func (db *DB) written(t store.Tables) { db.versions[t].Add(1) }

// directoryEntrySize is what a directory row costs in a cache: a few ids,
// names and timestamps.
const directoryEntrySize = 512

// cached reads through a directory cache while the version of the
// directory's tables is current.
func cached[K comparable, V any](db *DB, c *cache.Cache[K, V], k K, read func() (V, error)) (V, error) {
	v, ok := db.Version(store.DirectoryTables)
	if !ok {
		return read()
	}
	if val, hit := c.Get(k, v, time.Time{}); hit {
		return val, nil
	}
	val, err := read()
	if err == nil {
		c.Put(k, val, v, time.Time{}, directoryEntrySize)
	}
	return val, err
}
