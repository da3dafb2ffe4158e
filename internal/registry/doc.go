// Package registry is the OCI registry service: the operations of the
// distribution API (blobs, uploads, manifests, tags, referrers, catalog)
// over the metadata store and the blob store, independent of HTTP.
//
// It owns the ordering that makes pushes safe against garbage collection
// and crashes: an upload is verified and sealed, its blob record written
// (pending), its content put in place, and only then is the record marked
// live. A manifest is stored only when every blob it names is live, in the
// transaction that touches them. Errors are the sentinels in errors.go, mapped to
// OCI error codes by the wire surface (package ociapi).
package registry
