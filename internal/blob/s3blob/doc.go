// Package s3blob is the blob store on S3-compatible object storage: one
// bucket, every key under an optional prefix, shared by any number of
// berth processes.
//
// Layout under the prefix:
//
//	blobs/<algorithm>/<first two hex>/<hex>   committed content
//	uploads/<id>/manifest                     the upload's state (JSON)
//	uploads/<id>/chunks/<random>              bytes received, in order
//	uploads/<id>/sealed-<random>              the chunks composed, once verified
//
// Nothing about an upload lives in a process: its manifest says how many
// bytes it holds, in which chunks, the SHA-256 state after them, and
// whether it is sealed. Every change to it is a conditional write (If-Match
// on the version read, If-None-Match when it is made), so a request on any
// process resumes an upload, and of two requests that read the same
// version exactly one wins; the loser removes what it stored and answers
// as if it had come second.
//
// An append stores the client's bytes as a new chunk (one PUT, or a
// multipart upload of 16 MiB parts when they are more) before its manifest
// write names it; a failed append leaves the manifest as it was. S3
// composes objects only from parts of at least 5 MiB but the last, so a
// last chunk smaller than that is rewritten, with the new bytes after it,
// by the next append. Verify checks the digest, from the saved hash state
// or by reading the chunks, then has the service compose the chunks into
// one object (a multipart copy, no bytes through berth) and seals the
// manifest; Commit copies that object to the blob's key, where it appears
// whole or not at all. Content is never visible under a digest it was not
// verified against.
//
// A process that stops mid-append leaves a multipart upload the service
// keeps; Sweep aborts those begun before a cutoff (berth gc does). One
// that stops mid-AbortUpload leaves chunks without a manifest, which
// WalkUploads reports so that garbage collection removes them.
//
// The service must support conditional writes (If-Match and If-None-Match
// on PUT): Amazon S3 and MinIO do.
package s3blob
