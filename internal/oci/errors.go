package oci

import "errors"

// Sentinel errors for malformed input. They name the OCI error code they map
// to at the registry's edge.
var (
	ErrNameInvalid     = errors.New("invalid repository name")
	ErrTagInvalid      = errors.New("invalid tag")
	ErrDigestInvalid   = errors.New("invalid digest")
	ErrDigestAlgorithm = errors.New("unsupported digest algorithm")
	ErrManifestInvalid = errors.New("invalid manifest")
)
