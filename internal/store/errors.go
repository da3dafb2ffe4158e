package store

import "errors"

var (
	ErrNotFound        = errors.New("not found")
	ErrExists          = errors.New("already exists")
	ErrBlobUnknown     = errors.New("blob unknown")
	ErrManifestUnknown = errors.New("manifest unknown")
	ErrUploadUnknown   = errors.New("upload unknown")
	// ErrBlobBusy means garbage collection is deleting the blob at this
	// moment; once it is done the blob can be stored again, so the caller
	// retries shortly.
	ErrBlobBusy = errors.New("blob is being deleted")
	// ErrInsufficientStorage means a write failed for lack of space: the
	// write changed nothing, and reads still work.
	ErrInsufficientStorage = errors.New("insufficient storage: the disk is full")
	// ErrUnavailable means the metadata store's server could not be
	// reached (down, restarting, the connection cut). A read changed
	// nothing; a write whose connection was cut may or may not have been
	// committed, so the caller retries it once the store is back, as it
	// would an unanswered request.
	ErrUnavailable = errors.New("the metadata store is unavailable")
)
