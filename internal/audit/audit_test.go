package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// window lists the tenant-level events of t1 in the last day.
func window(t *testing.T, s store.Events) []store.Event {
	t.Helper()
	now := time.Now()
	es, err := s.ListEvents(context.Background(), store.EventQuery{TenantID: "t1", From: now.Add(-24 * time.Hour), To: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestTrailLogsAndStoresOneLine(t *testing.T) {
	meta, _ := stores.New(t)
	var logs bytes.Buffer
	trail := &audit.Trail{Store: meta, Log: slog.New(slog.NewJSONHandler(&logs, nil))}

	// A request as a wire surface sees it: its source goes into the
	// context, and its answer carries its correlation id.
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/v1.0/servicePrincipals", nil)
	r.RemoteAddr = "192.0.2.9:50123"
	ctx := audit.Attach(rec, r).Context()
	correlation := rec.Header().Get("X-Ms-Correlation-Request-Id")
	if correlation == "" {
		t.Fatal("the answer carries no correlation id")
	}
	// The request ends before the event is stored: the event is kept.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	trail.Record(cancelled, store.Event{TenantID: "t1", CallerID: "sp1", CallerKind: audit.ServicePrincipal,
		Operation: "Add service principal", Target: "obj1", Status: audit.Succeeded, Description: "app a1"})

	es := window(t, meta)
	if len(es) != 1 {
		t.Fatalf("events stored: %+v", es)
	}
	e := es[0]
	if e.ID == "" || time.Since(e.Time) > time.Minute || e.ClientIP != "192.0.2.9" || e.CorrelationID != correlation ||
		e.CallerID != "sp1" || e.Operation != "Add service principal" || e.Target != "obj1" {
		t.Fatalf("event stored: %+v", e)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("log lines: %q", lines)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"msg": "audit", "level": "INFO", "event": e.ID, "tenant": "t1", "caller": "sp1", "caller_kind": "ServicePrincipal",
		"client_ip": "192.0.2.9", "correlation_id": correlation, "operation": "Add service principal", "target": "obj1", "status": "Succeeded", "description": "app a1"} {
		if line[k] != v {
			t.Errorf("log line %s = %v, want %q", k, line[k], v)
		}
	}

	// A correlation id the answer already has is the event's.
	rec = httptest.NewRecorder()
	rec.Header().Set("X-Ms-Correlation-Request-Id", "given")
	if got := audit.Attach(rec, r); rec.Header().Get("X-Ms-Correlation-Request-Id") != "given" || got.Context() == r.Context() {
		t.Fatal("the answer's correlation id was replaced")
	}
}

// failingEvents is a store whose appends fail: the one part here that
// cannot be made to fail for real on demand.
type failingEvents struct{ store.Events }

func (failingEvents) AppendEvent(context.Context, store.Event) error { return errors.New("disk full") }

func TestTrailLogsWhatItCouldNotStore(t *testing.T) {
	meta, _ := stores.New(t)
	var logs bytes.Buffer
	trail := &audit.Trail{Store: failingEvents{meta}, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	trail.Record(context.Background(), store.Event{TenantID: "t1", Operation: "Delete user", Status: audit.Succeeded})
	out := logs.String()
	if !strings.Contains(out, `msg=audit`) || !strings.Contains(out, `operation="Delete user"`) ||
		!strings.Contains(out, "level=ERROR") || !strings.Contains(out, "disk full") {
		t.Fatalf("log:\n%s", out)
	}
}

func TestTrailDeletesExpiredEvents(t *testing.T) {
	meta, _ := stores.New(t)
	ctx := context.Background()
	old := store.Event{ID: "old", Time: time.Now().Add(-audit.Retention - time.Hour), TenantID: "t1", Operation: "Add user", Status: audit.Succeeded}
	kept := store.Event{ID: "kept", Time: time.Now().Add(-audit.Retention + time.Hour), TenantID: "t1", Operation: "Add user", Status: audit.Succeeded}
	for _, e := range []store.Event{old, kept} {
		if err := meta.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	trail := &audit.Trail{Store: meta, Log: slog.New(slog.DiscardHandler)}
	trail.Record(ctx, store.Event{TenantID: "t1", Operation: "Add user", Status: audit.Succeeded})
	es, err := meta.ListEvents(ctx, store.EventQuery{TenantID: "t1", From: time.Now().Add(-2 * audit.Retention), To: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[1].ID != "kept" {
		t.Fatalf("events after recording: %+v", es)
	}
}

func TestOutcome(t *testing.T) {
	refused := errors.New("forbidden")
	quiet := errors.New("bad request")
	for _, tc := range []struct {
		err                 error
		what                string
		status, description string
		record              bool
	}{
		{nil, "made", audit.Succeeded, "made", true},
		{refused, "", audit.Failed, "forbidden", true},
		{refused, "role Owner", audit.Failed, "role Owner: forbidden", true},
		{errors.Join(errors.New("who"), refused), "", audit.Failed, "who\nforbidden", true},
		{quiet, "made", "", "", false},
		{errors.New("connection reset"), audit.Done(errors.New("connection reset"), "made"), audit.Failed, "the server failed (see its log)", true},
	} {
		status, description, record := audit.Outcome(tc.err, tc.what, refused, quiet)
		if status != tc.status || description != tc.description || record != tc.record {
			t.Errorf("Outcome(%v, %q) = %q, %q, %v", tc.err, tc.what, status, description, record)
		}
	}
}
