// Package graph serves the directory API in the cloud's graph shape under
// /v1.0: applications with their secrets, and service principals.
//
// Every request carries a bearer token for the directory resource, and acts
// in the token's tenant. Reads are open to any principal of that tenant;
// writes need the Global Administrator or Application Administrator
// directory role. Application owners, who may manage their own
// applications without a role, are not modelled yet.
package graph
