package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/cache"
)

// writes is a set of the groups of tables (store.Tables) that a write
// transaction changes, cascades included.
type writes uint8

const (
	// toDirectory: tenants, applications, their password credentials,
	// federated credentials, service principals, users, directory roles
	// and cluster issuers.
	toDirectory   writes = 1 << store.DirectoryTables
	toAssignments writes = 1 << store.RoleAssignmentTables
	// toRegistries: registries, resource groups and resources.
	toRegistries writes = 1 << store.RegistryTables
	// toManifests: whatever can change what GetManifest answers.
	toManifests writes = 1 << store.ManifestTables
	allTables   writes = 1<<store.NumTables - 1
)

// Version reports the version of t's tables. On SQLite it counts the
// writes made through this handle, which owns the database (berth gc,
// fsck and tenant create, run beside a server, write nothing that was read
// before). On PostgreSQL it also counts the writes of every other handle on
// the database, as their notifications arrive (see listener): ok is true
// while the notifications are known to be current within staleAfter, so a
// value cached at a version reflects every write committed more than
// staleAfter before it is read.
func (db *DB) Version(t store.Tables) (v uint64, ok bool) {
	// Checked before the version is read: a listener coming back moves
	// every version before it vouches again, so a reader that sees it
	// vouching reads the moved version.
	ok = db.listener == nil || db.listener.current(time.Now())
	return db.versions[t].Load(), ok
}

// write runs fn in a write transaction that changes the tables of w. On
// PostgreSQL the transaction notifies every handle on the database, so the
// notification is delivered if and only if the write commits. Afterwards,
// committed or not, this handle's versions of w move at once, without
// waiting for its own notification.
func (db *DB) write(ctx context.Context, w writes, fn func(*sql.Tx) error) error {
	defer db.moved(w)
	if db.listener == nil {
		return db.tx(ctx, fn)
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return notify(ctx, tx, w)
	})
}

// execWrite is write for a single statement.
func (db *DB) execWrite(ctx context.Context, w writes, query string, args ...any) error {
	return db.write(ctx, w, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
}

// moved moves the versions of w.
func (db *DB) moved(w writes) {
	for t := range store.NumTables {
		if w&(1<<t) != 0 {
			db.versions[t].Add(1)
		}
	}
}

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
