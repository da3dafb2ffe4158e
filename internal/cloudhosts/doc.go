// Package cloudhosts is berth's public-cloud mode: the public cloud's own
// host names (its sign-in, management, directory API and registry hosts)
// answered by berth, so that the cloud's CLI and SDKs work with their
// built-in cloud and no configuration.
//
// Hosts and Served say which names those are; berth's server certificate
// covers them and its router already tells its surfaces apart by path,
// with the registry picked by the <name>.azurecr.io Host.
//
// Proxy is an HTTP CONNECT proxy that tunnels exactly those names, on
// port 443, to berth's own listener, and refuses every other destination,
// so that it is no open proxy. It never sees inside a tunnel: TLS runs end
// to end between the client and berth, whose certificate the client is
// told to trust. Tunnels are bounded in number, and each lasts only as
// long as berth keeps the connection (its idle and slow-client bounds).
package cloudhosts
