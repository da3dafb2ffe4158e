// Package ociapi is the OCI distribution HTTP surface (/v2/...) of the
// registry service.
//
// Handlers return errors; ServeHTTP maps them once, here, to the OCI error
// body {"errors":[{"code","message","detail"}]} and status. Every request is
// authorized through the Authorizer before the service is called, with the
// one action the endpoint needs (pull, push, delete, catalog), so that
// swapping how identities are checked never touches the handlers.
package ociapi
