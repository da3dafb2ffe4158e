package cli

import (
	"testing"
	"time"
)

func TestActivityWindow(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		q        ActivityLogQuery
		from, to string
	}{
		{ActivityLogQuery{Offset: "6h"}, "2026-12-07T06:00:00Z", "2026-12-07T12:00:00Z"},
		{ActivityLogQuery{Offset: "1d12h"}, "2026-12-06T00:00:00Z", "2026-12-07T12:00:00Z"},
		{ActivityLogQuery{StartTime: "2026-12-01", Offset: "7d"}, "2026-12-01T00:00:00Z", "2026-12-08T00:00:00Z"},
		{ActivityLogQuery{EndTime: "2026-12-01T10:30Z", Offset: "90m"}, "2026-12-01T09:00:00Z", "2026-12-01T10:30:00Z"},
		{ActivityLogQuery{StartTime: "2026-12-01T01:00:00+02:00", EndTime: "2026-12-01T05:00:00", Offset: "6h"}, "2026-11-30T23:00:00Z", "2026-12-01T05:00:00Z"},
	} {
		from, to, err := activityWindow(tc.q, now)
		if err != nil || !from.Equal(at(tc.from)) || !to.Equal(at(tc.to)) {
			t.Errorf("%+v: %s to %s, %v; want %s to %s", tc.q, from, to, err, tc.from, tc.to)
		}
	}
	for _, q := range []ActivityLogQuery{
		{Offset: ""}, {Offset: "6"}, {Offset: "h"}, {Offset: "6h and more"}, {Offset: "1w"},
		{Offset: "6h", StartTime: "yesterday"}, {Offset: "6h", EndTime: "2026-13-01"},
	} {
		if _, _, err := activityWindow(q, now); err == nil {
			t.Errorf("%+v: no error", q)
		}
	}
}
