// Package haproxytest runs a real HAProxy in front of a test's servers:
// TCP mode, so TLS passes through to the backends untouched (clients
// verify the backends' own certificate), each backend health-checked over
// HTTPS on a path the test names, and a statistics page the test reads to
// wait for a backend to be taken out or put back. With a second, liveness
// path, a client arriving while no backend is ready reaches a live one
// (which can say why it cannot serve) instead of a closed connection.
//
// The binary is haproxy on the PATH or in /usr/sbin (the Debian package
// puts it there). When there is none the test is skipped, unless
// BERTH_REQUIRE_TOOLS=1 is set (as CI does), in which case it fails.
package haproxytest
