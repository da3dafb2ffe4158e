package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/store"
)

// events are tenant B's directory events, newest first.
func (f *fixture) events() []store.Event {
	f.t.Helper()
	es, err := f.meta.ListEvents(context.Background(), store.EventQuery{TenantID: f.b.ID, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
	must(f.t, err)
	return es
}

// A refused sign-in and a consent are one event each, in the tenant
// signed in to, naming the user by object id and the address the browser
// came from (httptest's 192.0.2.1).
func TestSignInAndConsentAreAudited(t *testing.T) {
	f := newFixture(t)
	target := consentTarget(f)
	b := &browser{f: f}

	page := b.get(target)
	b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, page)}, "step": {"signin"}, "username": {f.admin.UserPrincipalName}, "password": {"not it"}})
	es := f.events()
	if len(es) != 1 {
		t.Fatalf("events after a refused sign-in: %+v", es)
	}
	if e := es[0]; e.TenantID != f.b.ID || e.CallerID != f.admin.ObjectID || e.CallerKind != audit.User || e.ClientIP != "192.0.2.1" ||
		e.Operation != "Sign-in" || e.Target != f.admin.ObjectID || e.Status != audit.Failed || !strings.Contains(e.Description, "incorrect password") {
		t.Fatalf("refused sign-in event: %+v", e)
	}
	// A name that is nobody's: refused, recorded without a caller.
	b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, b.get(target))}, "step": {"signin"}, "username": {"nobody@b.example"}, "password": {pw}})
	if es := f.events(); len(es) != 2 || es[0].CallerID != "" || es[0].Status != audit.Failed || !strings.Contains(es[0].Description, "no such user") {
		t.Fatalf("events after signing in as nobody: %+v", es)
	}

	// Signing in is not a change; consenting is, once.
	consent := b.signIn(target, f.admin.UserPrincipalName, pw)
	if n := len(f.events()); n != 2 {
		t.Fatalf("a sign-in recorded %d events", n-2)
	}
	location(t, b.decide(target, consent, "accept", true))
	es = f.events()
	if len(es) != 3 {
		t.Fatalf("events after consenting: %+v", es)
	}
	sp, err := f.meta.GetServicePrincipalByAppID(context.Background(), f.b.ID, f.multi.AppID)
	must(t, err)
	if e := es[0]; e.TenantID != f.b.ID || e.CallerID != f.admin.ObjectID || e.CallerKind != audit.User || e.ClientIP != "192.0.2.1" ||
		e.Operation != "Consent to application" || e.Target != sp.ObjectID || e.Status != audit.Succeeded ||
		!strings.Contains(e.Description, f.multi.AppID) || !strings.Contains(e.Description, f.a.ID) {
		t.Fatalf("consent event: %+v", e)
	}
}

// A disabled account's sign-in is refused and recorded; a password the
// user must change, chosen at sign-in, is recorded as theirs.
func TestDisabledSignInAndPasswordChangeAreAudited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	target := consentTarget(f)
	directory := &graph.Service{Directory: f.meta, Audit: f.h.audit}
	admin := graph.Caller{TenantID: f.b.ID, ObjectID: f.admin.ObjectID, Kind: audit.User}
	off, on, yes := false, true, true
	must(t, directory.UpdateUser(ctx, admin, f.appAdmin.ObjectID, graph.UserPatch{AccountEnabled: &off}))

	before := len(f.events())
	if r := (&browser{f: f}).signIn(target, f.appAdmin.UserPrincipalName, pw); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a disabled user signing in: %d", r.StatusCode)
	}
	es := f.events()
	if len(es) != before+1 || es[0].CallerID != f.appAdmin.ObjectID || es[0].Operation != "Sign-in" || es[0].Status != audit.Failed ||
		!strings.Contains(es[0].Description, "account disabled") {
		t.Fatalf("events after a disabled user's sign-in: %+v", es[:len(es)-before])
	}

	must(t, directory.UpdateUser(ctx, admin, f.appAdmin.ObjectID, graph.UserPatch{AccountEnabled: &on, ForceChangePassword: &yes}))
	b := &browser{f: f}
	page := b.signIn(target, f.appAdmin.UserPrincipalName, pw)
	before = len(f.events())
	const newPW = "a fine new password"
	b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, page)}, "step": {"newpassword"}, "new_password": {newPW}, "confirm_password": {newPW}})
	es = f.events()
	if len(es) != before+1 {
		t.Fatalf("a new password recorded %d events", len(es)-before)
	}
	if e := es[0]; e.CallerID != f.appAdmin.ObjectID || e.CallerKind != audit.User || e.ClientIP != "192.0.2.1" || e.Operation != "Change user password" ||
		e.Target != f.appAdmin.ObjectID || e.Status != audit.Succeeded || strings.Contains(e.Description, newPW) {
		t.Fatalf("new password event: %+v", e)
	}
}
