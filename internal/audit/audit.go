package audit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/store"
)

// Retention is how long events are kept, as long as the cloud keeps its
// activity log.
const Retention = 90 * 24 * time.Hour

// Kinds of caller.
const (
	ServicePrincipal = "ServicePrincipal"
	User             = "User"
)

// Statuses of an event.
const (
	Succeeded = "Succeeded"
	Failed    = "Failed"
)

// Recorder is what services record events through. Record fills in the
// event's id, time and source; it cannot fail the change it records.
type Recorder interface {
	Record(ctx context.Context, e store.Event)
}

// Trail records events in the log and the store.
type Trail struct {
	Store store.Events
	Log   *slog.Logger
	// pruned is when events older than Retention were last deleted, in
	// Unix nanoseconds.
	pruned atomic.Int64
}

var _ Recorder = (*Trail)(nil)

// pruneEvery is how often a Trail deletes expired events.
const pruneEvery = time.Hour

// Record writes e's log line, then appends e to the store, even if the
// request has ended meanwhile: the change it records was made all the
// same.
func (t *Trail) Record(ctx context.Context, e store.Event) {
	now := time.Now().UTC()
	e.ID, e.Time = ids.New(), now
	if s, ok := ctx.Value(sourceKey{}).(Source); ok {
		e.ClientIP, e.CorrelationID = s.ClientIP, s.CorrelationID
	}
	t.Log.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("event", e.ID), slog.String("tenant", e.TenantID), slog.String("subscription", e.SubscriptionID),
		slog.String("resource_group", e.ResourceGroup), slog.String("caller", e.CallerID), slog.String("caller_kind", e.CallerKind),
		slog.String("client_ip", e.ClientIP), slog.String("correlation_id", e.CorrelationID), slog.String("operation", e.Operation),
		slog.String("target", e.Target), slog.String("status", e.Status), slog.String("description", e.Description))
	ctx = context.WithoutCancel(ctx)
	if err := t.Store.AppendEvent(ctx, e); err != nil {
		t.Log.Error("audit event not stored: the change it records stands, and the log line above is its only record", "event", e.ID, "err", err)
	}
	t.prune(ctx, now)
}

// prune deletes expired events at most once per pruneEvery, on whichever
// request comes first.
func (t *Trail) prune(ctx context.Context, now time.Time) {
	last := t.pruned.Load()
	if now.UnixNano()-last < int64(pruneEvery) || !t.pruned.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if err := t.Store.DeleteEventsBefore(ctx, now.Add(-Retention)); err != nil {
		t.Log.Error("deleting expired audit events", "err", err)
	}
}

// Source is where the request that makes a change comes from.
type Source struct {
	ClientIP      string
	CorrelationID string
}

type sourceKey struct{}

// WithSource attaches s to ctx, for the events recorded under it.
func WithSource(ctx context.Context, s Source) context.Context {
	return context.WithValue(ctx, sourceKey{}, s)
}

// correlationHeader carries a request's correlation id, as the resource
// manager names it.
const correlationHeader = "X-Ms-Correlation-Request-Id"

// Attach returns r with its source attached: the peer's address, as the
// throttles key it (so behind a proxy, the proxy's), and the correlation
// id its answer carries, which it is given if it has none yet.
func Attach(w http.ResponseWriter, r *http.Request) *http.Request {
	id := w.Header().Get(correlationHeader)
	if id == "" {
		id = ids.New()
		w.Header().Set(correlationHeader, id)
	}
	return r.WithContext(WithSource(r.Context(), Source{ClientIP: clientauth.SourceOf(r), CorrelationID: id}))
}

// Outcome is how a change that ended with err is recorded, and its
// description, what followed by the reason for a failure: nil Succeeded;
// refused (the service's lack-of-rights error) Failed, with the refusal;
// one of quiet (bad input, nothing named, a conflict: nothing changed) not
// at all; anything else, a fault, Failed without its detail, which is in
// the server's log.
func Outcome(err error, what string, refused error, quiet ...error) (status, description string, record bool) {
	reason := "the server failed (see its log)"
	switch {
	case err == nil:
		return Succeeded, what, true
	case errors.Is(err, refused):
		reason = err.Error()
	}
	for _, q := range quiet {
		if errors.Is(err, q) {
			return "", "", false
		}
	}
	if what == "" {
		return Failed, reason, true
	}
	return Failed, what + ": " + reason, true
}

// Done is what, if the change that ended with err was made: a change
// described by its result has no description when it failed but the
// reason.
func Done(err error, what string) string {
	if err != nil {
		return ""
	}
	return what
}
