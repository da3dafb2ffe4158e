// Package ociapi is the OCI distribution HTTP surface (/v2/...) of the
// registry service, and the registry's metadata API (/acr/v1/..., acr.go):
// repositories, tags and manifests with their attributes, as the cloud's
// registry SDK and CLI call it.
//
// Handlers return errors; ServeHTTP maps them once, here, to the OCI error
// body {"errors":[{"code","message","detail"}]} and status. Every request is
// authorized through the Authorizer before the service is called, with the
// one action the endpoint needs (pull, push, delete, catalog,
// metadata_read, metadata_write), so that
// swapping how identities are checked never touches the handlers.
package ociapi
