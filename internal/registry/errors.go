package registry

import "errors"

var (
	ErrNameInvalid         = errors.New("invalid repository name")
	ErrNameUnknown         = errors.New("repository name not known to registry")
	ErrRegistryUnknown     = errors.New("registry not known")
	ErrDigestInvalid       = errors.New("provided digest did not match uploaded content")
	ErrBlobUnknown         = errors.New("blob unknown to registry")
	ErrUploadUnknown       = errors.New("blob upload unknown to registry")
	ErrRangeInvalid        = errors.New("requested range not satisfiable")
	ErrManifestUnknown     = errors.New("manifest unknown")
	ErrManifestInvalid     = errors.New("manifest invalid")
	ErrManifestBlobUnknown = errors.New("manifest references a blob unknown to the repository")
	ErrManifestTooLarge    = errors.New("manifest too large")
	ErrTagInvalid          = errors.New("invalid tag")
	// ErrDisallowed is a write, delete or pull that a lock (a
	// repository's, manifest's or tag's attributes) refuses; it changed
	// nothing.
	ErrDisallowed = errors.New("The operation is disallowed on this registry, repository or image.")
	// ErrBusy is a transient conflict with garbage collection; the client
	// should retry.
	ErrBusy = errors.New("content is being garbage collected, retry")
	// ErrInsufficientStorage is a write refused for lack of space; it
	// changed nothing, and pulls still work.
	ErrInsufficientStorage = errors.New("insufficient storage: the registry's disk is full; pulls still work")
)
