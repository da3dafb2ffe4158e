// Package graph serves the directory API in the cloud's graph shape under
// /v1.0: applications with their secrets, service principals, users, and
// directory role membership.
//
// Every request carries a bearer token for the directory resource, and acts
// in the token's tenant. Reads are open to any principal of that tenant.
// Writes to applications and service principals need the Global
// Administrator or Application Administrator directory role; creating,
// changing (PATCH: displayName, accountEnabled, passwordProfile) and
// deleting users needs Global Administrator or User Administrator, and
// only a Global Administrator changes or deletes a user who holds the
// Global or Application Administrator role; giving and taking a directory
// role needs Global Administrator. No change to a user or to role
// membership may leave a tenant that has a Global Administrator able to
// act (a service principal or an enabled user) with none: it is refused
// with 400 and changes nothing. The
// principal that creates an application becomes its owner; owners may add
// and remove the application's secrets and add further owners without a
// role, but other writes to it stay with administrators.
//
// Users are stored with an argon2id password hash and sign in only on the
// consent pages (package web), where a disabled or deleted user's session,
// and a session from before a new password, ends at its next request; only
// service principals get tokens.
//
// Every change, and every attempt refused for lack of rights, is one
// audit event (package audit) of the caller's tenant; a service principal
// made for another tenant's application is recorded as that tenant's
// consent.
package graph
