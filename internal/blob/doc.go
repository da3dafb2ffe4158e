// Package blob defines the blob store: content-addressed bytes and the
// upload sessions that produce them. Backends live in subpackages (fsblob:
// a local directory; s3blob: S3-compatible object storage) and must pass
// the conformance suite in blobtest.
//
// Content becomes visible only whole and verified: an upload is appended to
// in place, its digest is checked at Commit, and only then does it appear
// under its digest, atomically. A reader can never observe a partial blob.
// Which content is reachable is the metadata store's business, not this
// package's: the blob store knows digests, never repositories.
package blob
