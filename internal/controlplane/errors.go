package controlplane

import (
	"errors"
	"fmt"
)

// Kinds of failure; each maps to one HTTP status at the edge.
var (
	ErrNotFound   = errors.New("not found")
	ErrBadRequest = errors.New("bad request")
	ErrForbidden  = errors.New("forbidden")
	ErrConflict   = errors.New("conflict")
)

// Error is a failure with the resource manager's error code and message.
type Error struct {
	Kind    error
	Code    string
	Message string
	// Details are the inner errors of a failure made of several (a
	// template deployment's).
	Details []*Error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, code, format string, args ...any) error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

func subscriptionNotFound(id string) error {
	return fail(ErrNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", id)
}

func groupNotFound(name string) error {
	return fail(ErrNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
}

func resourceNotFound(typ, name, group string) error {
	return fail(ErrNotFound, "ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found.", typ, name, group)
}
