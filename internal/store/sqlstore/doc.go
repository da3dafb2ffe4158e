// Package sqlstore is the SQL backend of the metadata store: embedded SQLite
// (modernc.org/sqlite, pure Go, so the binary needs no cgo) by default and
// PostgreSQL (pgx) for several replicas. Both run the same SQL except for
// the few type names the migrations spell per dialect; migrations are
// embedded in the binary and applied at Open.
//
// SQLite allows one writer at a time, so writes go through a one-connection
// pool with BEGIN IMMEDIATE (no lock upgrades, no SQLITE_BUSY mid-
// transaction) and are group-committed (groupcommit.go), while reads use a
// separate pool in WAL mode. Commits are synchronous=FULL: an acknowledged
// write survives a power loss, not only a crash.
//
// Reads that every request makes (the directory, registries, manifests,
// role assignments) are cached by the version of their tables
// (store.Versions, Version). On SQLite the one process that owns the file
// moves the versions as it writes. On PostgreSQL, which several replicas
// share, each write transaction also notifies the others (NOTIFY, sent
// only if it commits), and each handle listens on a connection of its own
// (notify.go): a write through one replica is seen by the caches of every
// other within staleAfter (1 s; a few milliseconds in practice), or those
// caches are off until their listener is current again. Migrations run
// under an advisory lock, so replicas can start together on a new
// database.
package sqlstore
