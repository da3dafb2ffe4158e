// Package fsck checks that the metadata store and the blob store agree and
// that content is what its digest says.
//
// It reports, it never repairs. A problem is something a client could
// observe: content that does not hash to its digest, a manifest whose
// blobs are gone, a manifest whose bytes do not match its digest. An index
// whose child was deleted by a client is not a problem: the distribution
// API allows that delete. A blob record whose content was never published (a crash between
// recording and publishing an upload that was never acknowledged) is not a
// problem: nothing references it and garbage collection removes it.
package fsck
