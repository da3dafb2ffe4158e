// Package berthtest runs the real berth binary for end-to-end tests: it
// builds it once per test process (or takes BERTH_BIN), starts
// `berth serve` on a free loopback port with its own data directory, and
// stops, kills or restarts it on request. Tests talk to it only over the
// network, as any client would.
package berthtest
