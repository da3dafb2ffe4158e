package blob

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/berthhq/berth/internal/oci"
)

var (
	ErrNotFound       = errors.New("blob not found")
	ErrUploadNotFound = errors.New("upload not found")
	// ErrRangeInvalid is an append that does not start where the upload
	// currently ends.
	ErrRangeInvalid = errors.New("upload range invalid")
	// ErrDigestMismatch is a commit whose content does not hash to the
	// digest the client named; the upload stays so the client may retry.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrTooLarge is content beyond the limit the caller set.
	ErrTooLarge = errors.New("content too large")
	// ErrInsufficientStorage is a write that failed for lack of space;
	// like every failed write, it leaves the upload where it was.
	ErrInsufficientStorage = errors.New("insufficient storage: the disk is full")
)

// Reader is committed content, seekable so that range requests can be
// served from it.
type Reader interface {
	io.ReadSeekCloser
	Size() int64
}

// Store keeps content by digest and upload sessions by id. Upload ids are
// chosen by the caller and must be validated by it (they become names).
type Store interface {
	Stat(ctx context.Context, d oci.Digest) (int64, error)
	Open(ctx context.Context, d oci.Digest) (Reader, error)
	Delete(ctx context.Context, d oci.Digest) error
	// Walk calls fn for every committed blob, in no particular order.
	Walk(ctx context.Context, fn func(d oci.Digest, size int64) error) error

	StartUpload(ctx context.Context, id string) error
	// UploadSize is how many bytes the upload holds.
	UploadSize(ctx context.Context, id string) (int64, error)
	// Append writes r at offset, which must equal the current size, and
	// returns the new size. The bytes are durable when it returns.
	Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error)
	// Verify hashes the upload and checks it against d, returning its
	// size. A verified upload is sealed: appends to it fail with
	// ErrUploadNotFound from then on, so what gets published is exactly
	// what was verified. Nothing is published yet.
	Verify(ctx context.Context, id string, d oci.Digest) (int64, error)
	// Commit publishes a verified (sealed) upload under d, atomically and
	// durably.
	// The upload stays until AbortUpload, so that a caller that lost a
	// race with garbage collection can publish it again. Committing
	// content that exists already is not an error.
	Commit(ctx context.Context, id string, d oci.Digest) error
	AbortUpload(ctx context.Context, id string) error
	// WalkUploads calls fn for every upload session with its last change.
	WalkUploads(ctx context.Context, fn func(id string, modified time.Time) error) error
}

// Presigner is a store whose content clients can fetch from the backend
// itself (an object store), so that a server can answer a blob GET with a
// redirect instead of carrying the bytes.
type Presigner interface {
	// PresignGet returns a URL that reads d's content, with no other
	// credentials, until ttl has passed.
	PresignGet(ctx context.Context, d oci.Digest, ttl time.Duration) (string, error)
}

// Sweeper is a store whose backend can keep writes that a process began
// and never finished, out of reach of WalkUploads: an object store's
// multipart uploads, when a server stops in the middle of an append.
// Garbage collection sweeps them.
type Sweeper interface {
	// Sweep removes the unfinished writes begun before cutoff and returns
	// how many it removed.
	Sweep(ctx context.Context, cutoff time.Time) (int, error)
}
