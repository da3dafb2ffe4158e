// Package fsck checks that the metadata store and the blob store agree and
// that content is what its digest says.
//
// It reports, it never repairs. A problem is something a client could
// observe: content that does not hash to its digest, published content that
// is missing, a manifest whose blobs are gone, a manifest whose bytes do not
// match its digest. An index whose child was deleted by a client is not a
// problem: the distribution API allows that delete. Nor is a pending blob
// record (an upload that crashed between recording and publishing, never
// acknowledged): nothing can reference it and garbage collection removes it.
package fsck
