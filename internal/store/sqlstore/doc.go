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
package sqlstore
