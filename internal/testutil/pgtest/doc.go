// Package pgtest gives each test its own throwaway PostgreSQL server, so
// tests that need a real database can run in parallel (also across test
// binaries) without sharing state and without any external setup beyond
// having the PostgreSQL server binaries installed.
//
// Start initialises a fresh cluster in a temporary directory, starts it on a
// free loopback port and stops and deletes it when the test ends. The server
// is tuned for speed, not durability (fsync off), because its data is
// discarded anyway. StartServer's Server can also be stopped and started
// again on the same port, for tests of clients that must ride out a
// database restart.
//
// PostgreSQL refuses to run as root, while CI runs tests as root, so under
// root the server runs as the "postgres" system user, which the server
// package creates. The database is made with the pgx driver that the SQL
// store uses.
//
// When the binaries are missing the test is skipped, unless
// BERTH_REQUIRE_POSTGRES=1 is set (as CI does), in which case it fails:
// a database test that silently skips in CI tests nothing.
package pgtest
