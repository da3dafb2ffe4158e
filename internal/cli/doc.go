// Package cli is berth's command-line client: the same grammar and output
// rules as the cloud CLI the scenarios are written for (`--query` with
// JMESPath, `--output json|tsv|table|none`), talking to the server only
// through its public APIs, as any other client could.
//
// A login is kept in a profile in the configuration directory
// ($BERTH_CONFIG_DIR, default ~/.berth), readable only by its owner: the
// server's address and CA, the tenant, the identity, its secret, and cached
// tokens, refreshed before they expire.
package cli
