package controlplane

import (
	"context"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/store"
)

// actionReadEvents is the right to read the activity log; Reader and the
// roles above it have it (their "*/read").
const actionReadEvents = "Microsoft.Insights/eventtypes/values/read"

// ActivityQuery asks for a subscription's activity log: the events from
// From to To (zero: now), optionally of one resource group, of one
// resource and what is below it, or with one correlation id, caller or
// status, in pages of Limit after After.
type ActivityQuery struct {
	From, To      time.Time
	ResourceGroup string
	ResourceID    string
	CorrelationID string
	Caller        string
	Status        string
	After         *store.EventPosition
	Limit         int
}

// ActivityLog lists what was recorded in a subscription (see package
// audit), newest first. Reading it needs the right at the narrowest scope
// asked for: the subscription, the resource group or the resource, which
// need not exist any more. The window must lie within the retention.
// Directory events and sign-ins are the tenant's, not a subscription's:
// they are not in it, as the cloud keeps them in its directory's audit
// logs.
func (s *Service) ActivityLog(ctx context.Context, c Caller, subscriptionID string, q ActivityQuery) ([]store.Event, error) {
	if _, err := s.subscription(ctx, c, subscriptionID); err != nil {
		return nil, err
	}
	now := time.Now()
	if q.To.IsZero() {
		q.To = now
	}
	switch {
	case q.From.IsZero():
		return nil, badQuery("The query needs the start of its time window: eventTimestamp ge '<time>'.")
	case q.To.Before(q.From):
		return nil, badQuery("The end of the time window (%s) is before its start (%s).", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	case q.From.Before(now.Add(-audit.Retention)):
		return nil, badQuery("The start of the time window (%s) is more than %d days ago: events are kept that long.",
			q.From.Format(time.RFC3339), int(audit.Retention/(24*time.Hour)))
	}
	for _, st := range []string{audit.Succeeded, audit.Failed} {
		if strings.EqualFold(q.Status, st) {
			q.Status = st
		}
	}
	scope := resourceid.ID{Subscription: subscriptionID, ResourceGroup: q.ResourceGroup}
	if q.ResourceID != "" {
		id, err := resourceid.Parse(q.ResourceID)
		if err != nil || !strings.EqualFold(id.Subscription, subscriptionID) {
			return nil, badQuery("The resource '%s' is not a resource id in the subscription %s.", q.ResourceID, subscriptionID)
		}
		scope = id
	}
	if err := s.authorize(ctx, c, scope.String(), actionReadEvents); err != nil {
		return nil, err
	}
	return s.Store.ListEvents(ctx, store.EventQuery{
		TenantID: c.TenantID, SubscriptionID: subscriptionID, ResourceGroup: q.ResourceGroup, Under: q.ResourceID,
		CorrelationID: q.CorrelationID, CallerID: q.Caller, Status: q.Status, From: q.From, To: q.To, After: q.After, Limit: q.Limit,
	})
}

func badQuery(format string, args ...any) error {
	return fail(ErrBadRequest, "BadRequest", format, args...)
}
