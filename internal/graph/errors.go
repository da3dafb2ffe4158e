package graph

import "errors"

// Domain errors of the directory API; each maps to one graph error code at
// the edge (see writeError).
var (
	ErrNotFound     = errors.New("resource does not exist or one of its queried reference-property objects are not present")
	ErrForbidden    = errors.New("insufficient privileges to complete the operation")
	ErrConflict     = errors.New("another object with the same value for property exists")
	ErrBadRequest   = errors.New("invalid request")
	ErrUnauthorized = errors.New("access token validation failure")
)

// badRequest is an ErrBadRequest with the detail the caller needs.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }
func (e badRequest) Unwrap() error { return ErrBadRequest }

func invalid(msg string) error { return badRequest{msg} }

// conflicting is an ErrConflict that says which value is taken.
type conflicting struct{ msg string }

func (e conflicting) Error() string { return e.msg }
func (e conflicting) Unwrap() error { return ErrConflict }

func conflict(msg string) error { return conflicting{msg} }
