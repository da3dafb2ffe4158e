// Package sts is the token service: the directory's OAuth 2.0 endpoints
// (client credentials, v1 and v2), their OpenID discovery documents, the
// published signing keys and instance discovery, at the wire format of the
// public cloud's (docs/wire.md, "Token service") so the cloud SDKs work
// unchanged.
//
// Service issues tokens and returns the sentinel errors in errors.go;
// Handler is the HTTP surface and maps each error, once, to the cloud's
// error body with its AADSTS code. Tokens are RS256 JWTs signed with the
// keys of package keys.
package sts
