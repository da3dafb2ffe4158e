// Package resourcetype is the vocabulary of the resources berth serves:
// each type's name, the API versions the management API accepts for it,
// and the shape of its properties as the management API shows them.
//
// It is a leaf: it imports nothing of berth's, so the control plane that
// owns the resources, the token services that read a few of their
// properties (a registry's settings, a machine's key and identities), the
// management API's provider look-up and the CLI all share one definition
// without depending on each other.
package resourcetype
