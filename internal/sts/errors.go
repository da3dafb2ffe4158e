package sts

import "errors"

// Domain errors of the token service. Each maps to one AADSTS code at the
// wire (see handler.go).
var (
	ErrTenantNotFound    = errors.New("tenant not found")
	ErrResourceNotFound  = errors.New("resource principal not found")
	ErrInvalidScope      = errors.New("the scope is not valid")
	ErrMultipleResources = errors.New("more than one resource in the scope")
	ErrUnsupportedGrant  = errors.New("unsupported grant type")
	ErrMissingParameter  = errors.New("a required parameter is missing")
	ErrInvalidRequest    = errors.New("the request is malformed")

	// Client assertion (certificate credential) failures.
	ErrAssertionMalformed   = errors.New("the client assertion is not a valid JWT")
	ErrAssertionKeyNotFound = errors.New("no certificate registered on the application matches the client assertion")
	ErrAssertionSignature   = errors.New("client assertion failed signature validation")
	ErrAssertionTimeRange   = errors.New("client assertion is not within its valid time range")
	ErrAssertionIssuer      = errors.New("client assertion issuer is not the client id")
	ErrAssertionAudience    = errors.New("client assertion audience is not the token endpoint")
	ErrAssertionSubject     = errors.New("client assertion subject is not the client id")
	// ErrExternalOIDC is a federated issuer whose discovery document or
	// keys could not be fetched or read.
	ErrExternalOIDC = errors.New("request to external OIDC endpoint failed")
)
