// Package registryauth decides who may do what at a registry: the
// registry's own token service (POST /oauth2/exchange, GET and POST
// /oauth2/token) and the gate every /v2/ request passes.
//
// The chain: a directory token for the management or registry resource is
// exchanged for a registry refresh token (about 3 hours); a refresh token,
// or Basic credentials (a service principal's app id and secret, the admin
// user, or the null GUID with a refresh token), buys an access token (75
// minutes) whose access claim holds exactly the actions that role
// assignments grant the principal at the repository's scope or above
// (pulling grants metadata_read too, pushing metadata_write). The
// gate accepts a registry access token of this registry, Basic credentials
// (the same chain collapsed into one request), or nothing for pulls when
// anonymous pull is on; every request needs one action, and the catalog
// lists only repositories the caller may pull.
//
// Registry tokens are RS256 JWTs signed with the token service's rotating
// keys; each names its registry (aud, iss) and tenant, so it is refused at
// any other. A principal whose role assignments at the registry are all
// gone is refused at the next exchange and the next token request; access
// tokens already issued last until they expire. A request that would get
// the same token as a recent one, with nothing that decides it changed
// since, gets that token again rather than a new signature (reuse.go).
package registryauth
