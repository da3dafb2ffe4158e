// Package cache is berth's one in-memory cache of what was read from a
// store, and its one invalidation story.
//
// An entry is good while the version it was read at is current and, if
// it was given an expiry, until then. Versions come from the store
// (store.Versions): a counter per group of tables that moves after every
// write to them. A reader takes the version before it reads the store and
// tags the entry with it, so a write in between makes the entry stale at
// once. Across replicas on one PostgreSQL database the versions follow
// every replica's writes through notifications, within a stated bound
// (see sqlstore); a store that cannot vouch for its versions at a moment
// (its notifications may be late) says so, and nothing read from it then
// is cached by version.
//
// Every cache is bounded by bytes, as its user measures entries, so that
// nobody can grow it by asking for many or large things.
package cache
