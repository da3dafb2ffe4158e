package store

import (
	"context"
	"time"
)

// Event is one entry of the audit trail (package audit): a change made to
// the directory or to a subscription's resources, an attempt at one that
// was refused or failed, or a refused sign-in.
type Event struct {
	ID       string
	Time     time.Time
	TenantID string
	// SubscriptionID and ResourceGroup place a change to resources (the
	// group is empty for one to a subscription itself); both are empty
	// for tenant-level events: directory changes and sign-ins.
	SubscriptionID string
	ResourceGroup  string
	// CallerID is the object id of who acted, empty when nobody is known
	// (a sign-in with a user name that does not exist); CallerKind says
	// what it is (User or ServicePrincipal).
	CallerID   string
	CallerKind string
	// ClientIP is the address the request came from, CorrelationID the
	// request's correlation id; both empty when the change had no request.
	ClientIP      string
	CorrelationID string
	Operation     string
	// Target is what was changed: a resource id, or a directory object's
	// id.
	Target      string
	Status      string
	Description string
}

// EventPosition is where a listing of events stopped: the next page
// starts after it.
type EventPosition struct {
	Time time.Time
	ID   string
}

// EventQuery selects a tenant's events from From to To inclusive. The
// other fields narrow it when set.
type EventQuery struct {
	TenantID string
	// SubscriptionID selects a subscription's events; empty selects the
	// tenant-level ones.
	SubscriptionID string
	ResourceGroup  string
	// Under keeps events whose target is this resource id or below it, on
	// a path-segment boundary as role assignment scopes are.
	Under         string
	CorrelationID string
	CallerID      string
	Status        string
	From, To      time.Time
	// After continues a listing after the last event of a page.
	After *EventPosition
	// Limit bounds the answer (0: no bound).
	Limit int
}

// Events keeps the audit trail. Resource groups and targets match
// ignoring case, the other fields exactly.
type Events interface {
	// AppendEvent adds an event; ErrExists if its id is taken.
	AppendEvent(ctx context.Context, e Event) error
	// ListEvents lists the events q selects, newest first (ties by id,
	// descending).
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
	// DeleteEventsBefore removes every event older than t.
	DeleteEventsBefore(ctx context.Context, t time.Time) error
}
