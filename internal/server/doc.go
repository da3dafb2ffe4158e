// Package server is `berth serve`: it opens the stores, bootstraps a new
// data directory, and serves every surface on one HTTPS listener, told
// apart by host name and path.
//
// Routing: a request whose Host is <name>.<registry suffix> goes to that
// registry; /v2/ on any other host goes to the default registry that
// bootstrap created, so a laptop needs no DNS. /healthz, /readyz and
// /metrics are served on every host, and so is the portal at /portal/
// (package portal), where a browser that opens / is sent. With --cloud-hostnames the same
// router answers as the public cloud's host names (package cloudhosts),
// registries at <name>.azurecr.io, and a second listener is the CONNECT
// proxy that reaches them.
//
// Slow clients are bounded per connection and per request body
// (slowclients.go); a full data directory leaves pulls served and writes
// refused, and /readyz says so (diskfull.go).
package server
