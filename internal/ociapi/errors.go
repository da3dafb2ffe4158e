package ociapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/store"
)

// ErrDenied is returned by an Authorizer for an authenticated caller that
// may not perform the action.
var ErrDenied = errors.New("requested access to the resource is denied")

// ErrTooManyRequests is returned by an Authorizer that throttles a caller.
var ErrTooManyRequests = errors.New("too many requests")

// TooManyRequestsError is ErrTooManyRequests with when to come back.
type TooManyRequestsError struct {
	RetryAfter int // seconds
}

func (e *TooManyRequestsError) Error() string {
	return fmt.Sprintf("too many requests: retry after %d s", e.RetryAfter)
}
func (e *TooManyRequestsError) Unwrap() error { return ErrTooManyRequests }

// ChallengeError is returned by an Authorizer when the caller must
// (re-)authenticate; Challenge is the WWW-Authenticate header value.
type ChallengeError struct {
	Challenge string
	Err       error
}

func (e *ChallengeError) Error() string { return e.Err.Error() }
func (e *ChallengeError) Unwrap() error { return e.Err }

// Errors of the wire itself, not of the service.
var (
	errMethod      = errors.New("method not allowed")
	errNotFound    = errors.New("not found")
	errPaginationN = errors.New("invalid pagination parameter n")
	errDigestParam = errors.New("digest parameter missing or invalid")
)

type wireError struct {
	status int
	code   string
}

// codeOf maps a domain error to its OCI code and status.
func codeOf(err error) wireError {
	table := []struct {
		err error
		wireError
	}{
		{registry.ErrNameInvalid, wireError{http.StatusBadRequest, "NAME_INVALID"}},
		{registry.ErrNameUnknown, wireError{http.StatusNotFound, "NAME_UNKNOWN"}},
		{registry.ErrRegistryUnknown, wireError{http.StatusNotFound, "NAME_UNKNOWN"}},
		{registry.ErrDigestInvalid, wireError{http.StatusBadRequest, "DIGEST_INVALID"}},
		{errDigestParam, wireError{http.StatusBadRequest, "DIGEST_INVALID"}},
		{registry.ErrBlobUnknown, wireError{http.StatusNotFound, "BLOB_UNKNOWN"}},
		{registry.ErrUploadUnknown, wireError{http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN"}},
		{registry.ErrRangeInvalid, wireError{http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID"}},
		{registry.ErrManifestUnknown, wireError{http.StatusNotFound, "MANIFEST_UNKNOWN"}},
		{registry.ErrManifestInvalid, wireError{http.StatusBadRequest, "MANIFEST_INVALID"}},
		{registry.ErrManifestBlobUnknown, wireError{http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"}},
		{registry.ErrManifestTooLarge, wireError{http.StatusRequestEntityTooLarge, "SIZE_INVALID"}},
		{registry.ErrTagInvalid, wireError{http.StatusBadRequest, "TAG_INVALID"}},
		{registry.ErrBusy, wireError{http.StatusTooManyRequests, "TOOMANYREQUESTS"}},
		// The cloud's code and status for what a lock refuses.
		{registry.ErrDisallowed, wireError{http.StatusMethodNotAllowed, "REGISTRY_DISALLOWED_OPERATION"}},
		{errOrderBy, wireError{http.StatusBadRequest, "UNSUPPORTED"}},
		{errAttributes, wireError{http.StatusBadRequest, "UNSUPPORTED"}},
		// The distribution spec has no code for a full disk.
		{registry.ErrInsufficientStorage, wireError{http.StatusInsufficientStorage, "UNKNOWN"}},
		// Distribution's code for a registry that cannot serve for now.
		{store.ErrUnavailable, wireError{http.StatusServiceUnavailable, "UNAVAILABLE"}},
		{errMethod, wireError{http.StatusMethodNotAllowed, "UNSUPPORTED"}},
		{errNotFound, wireError{http.StatusNotFound, "NAME_UNKNOWN"}},
		{errPaginationN, wireError{http.StatusBadRequest, "PAGINATION_NUMBER_INVALID"}},
		{ErrDenied, wireError{http.StatusForbidden, "DENIED"}},
		{ErrTooManyRequests, wireError{http.StatusTooManyRequests, "TOOMANYREQUESTS"}},
		// A body read past its deadline: the client was too slow.
		{os.ErrDeadlineExceeded, wireError{http.StatusRequestTimeout, "BLOB_UPLOAD_INVALID"}},
	}
	for _, e := range table {
		if errors.Is(err, e.err) {
			return e.wireError
		}
	}
	return wireError{http.StatusInternalServerError, "UNKNOWN"}
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError is the one place where a handler's error becomes a response.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ch *ChallengeError
	we := codeOf(err)
	msg := err.Error()
	switch {
	case errors.As(err, &ch):
		w.Header().Set("WWW-Authenticate", ch.Challenge)
		we = wireError{http.StatusUnauthorized, "UNAUTHORIZED"}
		msg = "authentication required"
		if errors.Is(ch.Err, ErrDenied) {
			// A token without the scope: the client asks again, and is
			// granted only what the caller's role assignments allow; a
			// push with a pull-only identity ends here, so say why.
			msg = "authentication required: the token does not grant this action on this repository " +
				"(its identity's role assignments do not: AcrPush grants push, AcrPull pull, AcrDelete delete)"
		}
	case we.status == http.StatusInternalServerError:
		log.ErrorContext(r.Context(), "registry request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal server error"
	}
	switch we.status {
	case http.StatusTooManyRequests:
		retry := 1
		if tm := (*TooManyRequestsError)(nil); errors.As(err, &tm) && tm.RetryAfter > 1 {
			retry = tm.RetryAfter
		}
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	case http.StatusServiceUnavailable:
		log.WarnContext(r.Context(), "registry request failed: metadata store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		// The store's error names its server: not the client's business.
		msg = "the registry is unavailable for now; retry shortly"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(we.status)
	if r.Method == http.MethodHead {
		return
	}
	json.NewEncoder(w).Encode(errorBody{Errors: []errorEntry{{Code: we.code, Message: msg}}})
}
