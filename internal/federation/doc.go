// Package federation verifies tokens of other issuers that berth trusts
// through federated identity credentials: a Kubernetes cluster's service
// account tokens, another identity provider's. An issuer publishes its
// keys the OpenID Connect way: a discovery document at
// <issuer>/.well-known/openid-configuration naming a jwks_uri.
//
// Fetching is the risky part, so it is bounded: HTTPS only, no
// redirects, short timeouts, size limits, and a cache per issuer that is
// refreshed on an unknown key id at most once a minute. Each issuer has
// its own lock, so one slow issuer delays only the tokens that name it.
// Callers fetch only for issuers a federated credential names (see sts):
// a token cannot make berth fetch from wherever it likes.
//
// Some issuers berth knows itself (Known), asked before anything is
// fetched: a cluster's issuer that berth hosts has the keys its operator
// uploaded (ParseKeys reads them), and nothing is fetched for it; a
// cluster's own issuer may come with the cluster's CA, trusted beside
// Roots when fetching from that issuer alone. The checks of a token are
// the same whichever way its keys came.
package federation
