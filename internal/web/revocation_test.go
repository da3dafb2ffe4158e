package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/store"
)

// isSignIn reports whether a page is the sign-in form, not the consent.
func isSignIn(r response) bool {
	return strings.Contains(r.body, "<h1>Sign in</h1>") && !strings.Contains(r.body, "consent_org")
}

// A signed-in user disabled through the directory service is refused at
// the session's next request, GET or POST; enabling the account again
// does not bring the session back; while disabled, the right password
// gets a page that says so, a wrong one the usual answer, and both count
// towards the same throttle.
func TestDisabledUserSessionEnds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	directory := &graph.Service{Directory: f.meta, Audit: f.h.audit}
	admin := graph.Caller{TenantID: f.b.ID, ObjectID: f.admin.ObjectID}
	enabled := func(on bool) {
		t.Helper()
		must(t, directory.UpdateUser(ctx, admin, f.appAdmin.ObjectID, graph.UserPatch{AccountEnabled: &on}))
	}
	target := consentTarget(f)
	b := &browser{f: f}
	consent := b.signIn(target, "apps@b.example", pw)
	if !strings.Contains(consent.body, "consent_org") {
		t.Fatalf("no consent page:\n%s", consent.body)
	}
	enabled(false)
	if r := b.get(target); !isSignIn(r) {
		t.Fatalf("a disabled user's session still shows the consent: %d\n%s", r.StatusCode, r.body)
	}
	b.decide(target, consent, "accept", true)
	if f.hasSP(f.b.ID, f.multi.AppID) {
		t.Fatal("a disabled user's session consented")
	}
	enabled(true)
	if r := b.get(target); !isSignIn(r) {
		t.Fatal("enabling the account again brought its old session back")
	}

	enabled(false)
	c := &browser{f: f}
	r := c.signIn(target, "apps@b.example", pw)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "Account disabled") || !strings.Contains(r.body, "Ask an administrator of Fabrikam B") {
		t.Fatalf("a disabled user's sign-in: %d\n%s", r.StatusCode, r.body)
	}
	page := c.get(target)
	if r := c.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, page)}, "step": {"signin"}, "username": {"apps@b.example"}, "password": {"wrong password"}}); r.StatusCode != http.StatusUnauthorized || strings.Contains(r.body, "disabled") {
		t.Fatalf("a wrong password for a disabled user: %d\n%s", r.StatusCode, r.body)
	}
	for range 3 {
		c.signIn(target, "apps@b.example", pw)
	}
	if r := c.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, c.get(target))}, "step": {"signin"}, "username": {"apps@b.example"}, "password": {pw}}); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the sixth sign-in of a disabled user: %d", r.StatusCode)
	}
	if f.hasSP(f.b.ID, f.multi.AppID) {
		t.Fatal("a disabled user consented")
	}
}

// The session check reads the account itself, not only the session
// epoch: a user disabled by any write is refused.
func TestSessionReadsTheAccount(t *testing.T) {
	f := newFixture(t)
	target := consentTarget(f)
	b := &browser{f: f}
	b.signIn(target, "apps@b.example", pw)
	yes := true
	must(t, f.meta.UpdateUser(context.Background(), f.appAdmin.ObjectID, store.UserUpdate{Disabled: &yes}))
	if r := b.get(target); !isSignIn(r) {
		t.Fatalf("a disabled user's session: %d\n%s", r.StatusCode, r.body)
	}
}

// A new password set through the directory service ends the sessions
// signed in with the old one; the old password no longer signs in, the
// new one does.
func TestPasswordChangeEndsSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	directory := &graph.Service{Directory: f.meta, Audit: f.h.audit}
	target := consentTarget(f)
	b := &browser{f: f}
	consent := b.signIn(target, "apps@b.example", pw)
	const newPW = "a brand new passphrase"
	must(t, directory.UpdateUser(ctx, graph.Caller{TenantID: f.b.ID, ObjectID: f.admin.ObjectID}, "apps@b.example", graph.UserPatch{Password: ptr(newPW)}))
	if r := b.get(target); !isSignIn(r) {
		t.Fatalf("a session from before the new password: %d\n%s", r.StatusCode, r.body)
	}
	b.decide(target, consent, "accept", true)
	if f.hasSP(f.b.ID, f.multi.AppID) {
		t.Fatal("a session from before the new password consented")
	}
	if r := (&browser{f: f}).signIn(target, "apps@b.example", pw); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old password: %d", r.StatusCode)
	}
	if r := (&browser{f: f}).signIn(target, "apps@b.example", newPW); !strings.Contains(r.body, "consent_org") {
		t.Fatalf("the new password: %d\n%s", r.StatusCode, r.body)
	}
	// Other users' sessions are untouched.
	c := &browser{f: f}
	c.signIn(target, "admin@b.example", pw)
	must(t, directory.UpdateUser(ctx, graph.Caller{TenantID: f.b.ID, ObjectID: f.admin.ObjectID}, "apps@b.example", graph.UserPatch{Password: ptr("yet another passphrase")}))
	if r := c.get(target); !strings.Contains(r.body, "consent_org") {
		t.Fatal("another user's new password ended this session")
	}
}

// A deleted user's session is refused, and the name no longer signs in.
func TestDeletedUserSessionEnds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	target := consentTarget(f)
	b := &browser{f: f}
	b.signIn(target, "apps@b.example", pw)
	must(t, (&graph.Service{Directory: f.meta, Audit: f.h.audit}).DeleteUser(ctx, graph.Caller{TenantID: f.b.ID, ObjectID: f.admin.ObjectID}, "apps@b.example"))
	if r := b.get(target); !isSignIn(r) {
		t.Fatalf("a deleted user's session: %d\n%s", r.StatusCode, r.body)
	}
	if r := (&browser{f: f}).signIn(target, "apps@b.example", pw); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a deleted user signs in: %d", r.StatusCode)
	}
}

func ptr[T any](v T) *T { return &v }

// A user who must change their password signs in to the new-password
// page, which is all that session is good for; a mismatched, short or
// unchanged password is refused and changes nothing; a good one signs
// them in with it. Flagging a user ends their sessions.
func TestForcedPasswordChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	target := consentTarget(f)
	before := &browser{f: f}
	before.signIn(target, "apps@b.example", pw)
	yes := true
	must(t, (&graph.Service{Directory: f.meta, Audit: f.h.audit}).UpdateUser(ctx, graph.Caller{TenantID: f.b.ID, ObjectID: f.admin.ObjectID}, f.appAdmin.ObjectID,
		graph.UserPatch{ForceChangePassword: &yes}))
	if r := before.get(target); !isSignIn(r) {
		t.Fatalf("a session from before the user was asked for a new password: %d\n%s", r.StatusCode, r.body)
	}

	b := &browser{f: f}
	page := b.signIn(target, "apps@b.example", pw)
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, "<h1>Choose a new password</h1>") || strings.Contains(page.body, "consent_org") ||
		!strings.Contains(page.body, `<label for="new_password">`) || !strings.Contains(page.body, `autocomplete="new-password"`) {
		t.Fatalf("after signing in with a password to change: %d\n%s", page.StatusCode, page.body)
	}
	// The session cannot consent.
	r := b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, page)}, "step": {"consent"}, "decision": {"accept"}, "consent_org": {"true"}})
	if r.StatusCode != http.StatusSeeOther || f.hasSP(f.b.ID, f.multi.AppID) {
		t.Fatalf("a session that must change its password consented: %d", r.StatusCode)
	}
	unchanged, err := f.meta.GetUser(ctx, f.appAdmin.ObjectID)
	must(t, err)
	for name, c := range map[string]struct{ pw, confirm, want string }{
		"mismatch": {"a fine new password", "a fine new passw0rd", "Enter the same new password twice"},
		"short":    {"short", "short", "at least 8 characters"},
		"same":     {pw, pw, "other than your current one"},
	} {
		r := b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, page)}, "step": {"newpassword"}, "new_password": {c.pw}, "confirm_password": {c.confirm}})
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, c.want) || !strings.Contains(r.body, `role="alert"`) {
			t.Errorf("%s: %d\n%s", name, r.StatusCode, r.body)
		}
		if u, err := f.meta.GetUser(ctx, f.appAdmin.ObjectID); err != nil || u != unchanged {
			t.Fatalf("%s changed the user: %+v, %v", name, u, err)
		}
	}
	// Without the session's CSRF token: refused, nothing changed.
	if r := b.do(http.MethodPost, target, url.Values{"step": {"newpassword"}, "new_password": {"a fine new password"}, "confirm_password": {"a fine new password"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a new password without the CSRF token: %d", r.StatusCode)
	}
	const newPW = "a fine new password"
	r = b.do(http.MethodPost, target, url.Values{"csrf_token": {csrf(t, page)}, "step": {"newpassword"}, "new_password": {newPW}, "confirm_password": {newPW}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != target {
		t.Fatalf("a good new password: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	if r := b.get(target); !strings.Contains(r.body, "consent_org") {
		t.Fatalf("after choosing a new password: %d\n%s", r.StatusCode, r.body)
	}
	u, err := f.meta.GetUser(ctx, f.appAdmin.ObjectID)
	must(t, err)
	if u.ForceChangePassword {
		t.Fatal("the user must still change the password")
	}
	if r := (&browser{f: f}).signIn(target, "apps@b.example", pw); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old password: %d", r.StatusCode)
	}
	if r := (&browser{f: f}).signIn(target, "apps@b.example", newPW); !strings.Contains(r.body, "consent_org") {
		t.Fatalf("the new password: %d", r.StatusCode)
	}
	if strings.Contains(f.logs.String(), newPW) {
		t.Fatal("the new password was logged")
	}
}
