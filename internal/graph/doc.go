// Package graph serves the directory API in the cloud's graph shape under
// /v1.0: applications with their secrets, service principals, users, and
// directory role membership.
//
// Every request carries a bearer token for the directory resource, and acts
// in the token's tenant. Reads are open to any principal of that tenant.
// Writes to applications and service principals need the Global
// Administrator or Application Administrator directory role; creating users
// needs Global Administrator or User Administrator; giving a directory role
// needs Global Administrator. The principal that creates an application
// becomes its owner; owners may add and remove the application's secrets
// and add further owners without a role, but other writes to it stay with
// administrators.
//
// Users are stored with an argon2id password hash and sign in only on the
// consent pages (package web); only service principals get tokens.
package graph
