// Package oidcissuer serves the OpenID Connect issuers berth hosts for
// clusters (controlplane: oidcIssuerProfile), as a Kubernetes API server
// serves its own: the discovery document at
// <issuer>/.well-known/openid-configuration and the key set at
// <issuer>/openid/v1/jwks, with the keys the cluster's operator uploaded.
// They are public, as an issuer's documents are: no authentication, and
// cacheable for a few minutes.
//
// An issuer is found by its exact URL, made of the address the request
// reached berth at and its path, so it is served where its tokens say it
// is. berth's own token service needs none of this: it reads the keys
// from the store (controlplane.KnownIssuers).
package oidcissuer
