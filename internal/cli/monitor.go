package cli

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// monitorAPI is the activity log's API version, the one the cloud CLI
// sends.
const monitorAPI = "2015-04-01"

// ActivityLogQuery is what `monitor activity-log list` asks for: a time
// window (a start, an end, or both; what is missing is Offset from the
// other, or the Offset up to now), and optionally one resource group or
// resource, a correlation id, a caller (an object id) and a status.
type ActivityLogQuery struct {
	StartTime, EndTime string
	Offset             string
	ResourceGroup      string
	ResourceID         string
	CorrelationID      string
	Caller             string
	Status             string
	MaxEvents          int
}

// ActivityLog lists the current subscription's activity log, newest
// first, at most q.MaxEvents events (0: all in the window).
func (m *Management) ActivityLog(ctx context.Context, q ActivityLogQuery) ([]Object, error) {
	sub, err := m.Subscription()
	if err != nil {
		return nil, err
	}
	if q.ResourceGroup != "" && q.ResourceID != "" {
		return nil, fmt.Errorf("usage error: --resource-group and --resource-id cannot be used together")
	}
	from, to, err := activityWindow(q, time.Now())
	if err != nil {
		return nil, err
	}
	expr := "eventTimestamp ge " + literal(from.Format(time.RFC3339Nano)) + " and eventTimestamp le " + literal(to.Format(time.RFC3339Nano))
	for _, c := range []struct{ prop, value string }{
		{"resourceGroupName", q.ResourceGroup}, {"resourceUri", q.ResourceID}, {"correlationId", q.CorrelationID},
		{"caller", q.Caller}, {"status", q.Status},
	} {
		if c.value != "" {
			expr += " and " + c.prop + " eq " + literal(c.value)
		}
	}
	return m.listUpTo(ctx, "/subscriptions/"+esc(sub)+"/providers/Microsoft.Insights/eventtypes/management/values", monitorAPI, filter(expr), q.MaxEvents)
}

// activityWindow is the window q names, as the cloud CLI reckons it.
func activityWindow(q ActivityLogQuery, now time.Time) (from, to time.Time, err error) {
	offset, err := parsePeriod(q.Offset)
	if err != nil {
		return from, to, err
	}
	if q.StartTime != "" {
		if from, err = parseTimeFlag("--start-time", q.StartTime); err != nil {
			return from, to, err
		}
	}
	if q.EndTime != "" {
		if to, err = parseTimeFlag("--end-time", q.EndTime); err != nil {
			return from, to, err
		}
	}
	switch {
	case from.IsZero() && to.IsZero():
		to = now.UTC()
		from = to.Add(-offset)
	case from.IsZero():
		from = to.Add(-offset)
	case to.IsZero():
		to = from.Add(offset)
	}
	return from, to, nil
}

// timeFlagLayouts are the forms of time the cloud CLI takes, and RFC 3339
// with an offset; times without a zone are UTC.
var timeFlagLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15Z07:00", "2006-01-02T15:04:05", "2006-01-02"}

func parseTimeFlag(flag, s string) (time.Time, error) {
	for _, layout := range timeFlagLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: %q is not a time; for example 2026-12-31T12:59:59Z, 2026-12-31T12:59Z or 2026-12-31", flag, s)
}

var periodPart = regexp.MustCompile(`(\d+)([dhms])`)

// parsePeriod reads a period as the cloud CLI writes one: days, hours,
// minutes and seconds, such as 6h, 1d12h or 90m.
func parsePeriod(s string) (time.Duration, error) {
	bad := fmt.Errorf("--offset: %q is not a period such as 6h, 1d12h or 30m", s)
	l := strings.ToLower(strings.TrimSpace(s))
	if l == "" || periodPart.ReplaceAllString(l, "") != "" {
		return 0, bad
	}
	units := map[string]time.Duration{"d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second}
	var d time.Duration
	for _, m := range periodPart.FindAllStringSubmatch(l, -1) {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 1<<20 {
			return 0, bad
		}
		d += time.Duration(n) * units[m[2]]
	}
	return d, nil
}
