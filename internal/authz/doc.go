// Package authz is role-based access control: the built-in role
// definitions and the check every surface asks, "may this principal do
// this action at this scope?".
//
// A scope is a resource id or one of its ancestors (subscription, resource
// group, resource, child). An assignment at a scope grants its role's
// actions there and everywhere below. A role grants an action when one of
// its actions matches it and none of its notActions does; matching ignores
// case and "*" stands for any run of characters, slashes included. There
// are no deny assignments: grants add up across a principal's assignments.
//
// A removed assignment stops granting with the next request through the
// replica that removed it, and within the store's bound through the
// others (1 s on PostgreSQL, see sqlstore). The engine caches a
// principal's assignments only while the store vouches that they have not
// changed since (store.Versions).
package authz
