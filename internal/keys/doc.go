// Package keys keeps the token service's signing keys: which key signs
// now, and which keys are published for verifiers.
//
// Keys live in the metadata store, so every replica signs with the same
// key and publishes the same set. Rotation never breaks a verifier: a new
// key is published for a while before it signs (clients that cached the
// key set pick it up), and an old key stays published until the last token
// it signed has expired. Each key carries a self-signed certificate because
// the published key set includes x5c and x5t, which the cloud SDKs read.
//
// The private keys are stored unencrypted in the metadata store; protecting
// the store is protecting the keys.
package keys
