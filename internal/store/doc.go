// Package store defines the metadata store: the one interface through which
// berth keeps everything that is not blob content (directory, registries,
// repositories, manifests, tags, blob records, upload sessions).
//
// Backends live in subpackages (sqlstore: SQLite and PostgreSQL) and must
// pass the conformance suite in storetest. The interface is shaped by two
// promises the registry makes:
//
//   - Garbage collection is safe while pushes continue. A blob record is
//     either live or being deleted. Every operation that will make content
//     reachable (an upload commit, a mount, a manifest naming the blob)
//     touches the live record inside its own transaction; GC may only mark a
//     record for deletion when it is unreferenced and has not been touched
//     for the grace window, in one conditional update. Whichever commits
//     first wins, and the loser sees it: a manifest naming a blob that GC
//     took gets ErrBlobUnknown and is never acknowledged.
//   - Every acknowledged write survives a crash: each method is one
//     transaction, committed before it returns.
//
// Errors are the sentinels in errors.go; callers test them with errors.Is.
package store
