// Package controlplane is the resource manager's logic: subscriptions,
// resource groups, resources (registries, user-assigned identities) and
// role assignments, each request authorized by role-based access control
// (package authz) as the caller its token names.
//
// Resources of a type berth serves are made real when their record is
// written: a registry resource is a live registry at its login server, an
// identity resource is a managed-identity service principal. Deleting the
// resource deletes what it stands for and the role assignments at or below
// it, so that a resource made again under the same name starts bare.
//
// A cluster's OIDC issuers are found by their URL, which a token names
// and a resource id does not: each issuer URL is one cluster's
// (store.ClusterIssuers), and ClusterIssuer and KnownIssuers read what
// the cluster says of it now, for the documents berth serves and for the
// token service.
//
// A template deployment (deployment.go) evaluates a template with
// package template and makes its resources through the same calls, as
// the caller.
//
// Every change, and every attempt refused for lack of rights, is one
// audit event (package audit); a subscription's events are its activity
// log (ActivityLog).
//
// Errors are *Error values wrapping one of the sentinel kinds (ErrNotFound,
// ErrBadRequest, ErrForbidden, ErrConflict) with the resource manager's
// error code; the wire layer maps the kind to a status, once.
package controlplane
