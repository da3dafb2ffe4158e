// Package imds is berth's instance metadata agent: it runs on a machine
// (a virtual machine resource of berth's control plane) and serves the
// machine's processes the cloud's instance metadata endpoint, so that
// unmodified clients get tokens for the managed identities assigned to
// the machine. It proves itself to berth's token service with the
// machine credential (CredentialFile) and keeps no other secret.
//
// Tokens are cached per (identity as the client named it, resource).
// How long a machine keeps using an identity removed from it is bounded
// so: requests not answered from the cache fail at once with "Identity
// not found"; a cached token is handed out until the first request after
// half its life (30 minutes of berth's hour), which makes the agent ask
// berth again and drop it when berth says no; and a token already handed
// out stays valid until it expires (an hour after issue), as bearer
// tokens do. When berth cannot be reached, cached tokens are served until
// they expire and anything else gets a 503 saying so.
package imds
