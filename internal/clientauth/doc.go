// Package clientauth answers, once for every surface, whether an
// application authenticates in a tenant with a client secret: the token
// service's client credentials grant, Basic credentials at a registry, and
// a cluster's new service principal all ask Checker.
//
// The rules are the token service's: the application exists, it has a
// service principal in the tenant (its home tenant, or one that consented
// to it), and the secret is one of its password credentials and current.
// An expired secret is told apart from a wrong one. Wrong secrets slow
// down further attempts for the same application from the same source
// (package throttle), so that nobody's guesses delay the right secret
// sent from elsewhere. Each surface maps the sentinel errors to its own
// wire error.
package clientauth
