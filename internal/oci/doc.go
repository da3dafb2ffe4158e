// Package oci holds the OCI distribution data rules that every other registry
// package relies on: repository names, tags, digests and manifests.
//
// Everything here is pure parsing and validation with no I/O, so that it can
// be fuzzed and so that the HTTP edge can reject bad input before any store is
// touched. Errors are the sentinel values declared in errors.go; the registry
// surface maps them to OCI error codes.
package oci
