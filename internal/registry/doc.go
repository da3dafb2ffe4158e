// Package registry is the OCI registry service: the operations of the
// distribution API (blobs, uploads, manifests, tags, referrers, catalog)
// over the metadata store and the blob store, independent of HTTP.
//
// It owns the ordering that makes pushes safe against garbage collection
// and crashes: an upload is verified, then its blob record is touched in
// the metadata store, then its content is published; a manifest is stored
// only after every blob it names is both live in the metadata store and
// present in the blob store. Errors are the sentinels in errors.go, mapped to
// OCI error codes by the wire surface (package ociapi).
package registry
