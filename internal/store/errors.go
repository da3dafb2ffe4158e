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
)
