package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/store"
)

// TestUsers: the Global Administrator creates a user, whose password is
// shown once and works, must be changed at the first sign-in, and is
// reset the same way; disables, enables and deletes them after the
// confirmation, gives and takes a directory role; the list is paginated
// and searched. A user without a directory role sees the list and is
// refused every change, which changes nothing.
func TestUsers(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for i := range 25 {
		must(t, f.meta.CreateUser(ctx, store.User{ObjectID: ids.New(), TenantID: f.tenant.ID, UserPrincipalName: fmt.Sprintf("p%02d@contoso.example", i),
			DisplayName: fmt.Sprintf("Person %02d", i), PasswordHash: pwHash}))
	}
	b := f.browser()
	b.signIn("admin@contoso.example")
	rows := regexp.MustCompile(`<td data-label="Display name"><a href="/portal/users/[^"]+">([^<]+)</a>`)
	if got := rows.FindAllStringSubmatch(b.get("/portal/users").body, -1); len(got) != 20 || got[0][1] != "Ada Admin" {
		t.Fatalf("the first page of users: %q", got)
	}
	if got := rows.FindAllStringSubmatch(b.get("/portal/users?search=P1").body, -1); len(got) != 10 || got[0][1] != "Person 10" {
		t.Fatalf("the users matching P1: %q", got)
	}
	wantPage(t, b.get("/portal/users?page=2"), http.StatusOK, `rel="prev"`, "Uma User")

	b.get("/portal/users/new")
	wantPage(t, b.post("/portal/users/new", url.Values{"name": {"Nia New"}, "username": {"nia@elsewhere"}}), http.StatusBadRequest, "without @ and domain")
	created := b.post("/portal/users/new", url.Values{"name": {"Nia New"}, "username": {"nia"}})
	m := regexp.MustCompile(`id="new-password" [^>]*value="([^"]+)"`).FindStringSubmatch(created.body)
	if created.status != http.StatusOK || m == nil || !strings.Contains(created.body, "User created") {
		t.Fatalf("Create: %d\n%s", created.status, created.body)
	}
	u, err := f.meta.GetUserByUPN(ctx, f.tenant.ID, "nia@contoso.example")
	must(t, err)
	if ok, _ := password.Verify(m[1], u.PasswordHash); !ok || !u.ForceChangePassword || u.Disabled {
		t.Fatalf("the user made: %+v, the password shown verifies: %v", u, ok)
	}
	page := "/portal/users/" + u.ObjectID
	again := b.get(page)
	wantPage(t, again, http.StatusOK, "nia@contoso.example", "to be changed at the next sign-in")
	if strings.Contains(again.body, m[1]) {
		t.Fatal("the user's page shows the password a second time")
	}
	shown := b.mark
	reset := b.post(page, url.Values{"action": {"reset"}})
	r := regexp.MustCompile(`id="new-password" [^>]*value="([^"]+)"`).FindStringSubmatch(reset.body)
	if reset.status != http.StatusOK || r == nil || r[1] == m[1] || !strings.Contains(reset.body, "Password reset") {
		t.Fatalf("Reset password: %d\n%s", reset.status, reset.body)
	}
	u, _ = f.meta.GetUser(ctx, u.ObjectID)
	if ok, _ := password.Verify(r[1], u.PasswordHash); !ok {
		t.Fatal("the reset password shown is not the user's")
	}
	// The answer reloaded sends the same form again: the password just
	// shown stays.
	wantPage(t, b.post(page, url.Values{"action": {"reset"}, "mark": {shown}}), http.StatusConflict, "so it was not reset again")
	u, _ = f.meta.GetUser(ctx, u.ObjectID)
	if ok, _ := password.Verify(r[1], u.PasswordHash); !ok {
		t.Fatal("a reloaded reset changed the password again")
	}

	// A plain user: refused, nothing changes.
	p := f.browser()
	p.signIn("user@contoso.example")
	wantPage(t, p.get("/portal/users"), http.StatusOK, "Nia New")
	p.get(page)
	wantPage(t, p.post(page, url.Values{"action": {"disable"}}), http.StatusForbidden, "User Administrator")
	wantPage(t, p.post(page, url.Values{"action": {"delete"}}), http.StatusForbidden, "User Administrator")
	wantPage(t, p.post(page, url.Values{"action": {"add-role"}, "role": {store.RoleGlobalAdministrator}}), http.StatusForbidden, "Global Administrator")
	p.get("/portal/users/new")
	wantPage(t, p.post("/portal/users/new", url.Values{"name": {"X"}, "username": {"x"}}), http.StatusForbidden, "User Administrator")
	if has, _ := f.meta.HasDirectoryRole(ctx, f.tenant.ID, u.ObjectID, store.RoleGlobalAdministrator); has {
		t.Fatal("a refused role was given")
	}
	if _, err := f.meta.GetUserByUPN(ctx, f.tenant.ID, "x@contoso.example"); err == nil {
		t.Fatal("a refused user was created")
	}

	for _, step := range []struct {
		form url.Values
		ok   func(store.User, bool) bool
	}{
		{url.Values{"action": {"disable"}}, func(u store.User, _ bool) bool { return u.Disabled }},
		{url.Values{"action": {"enable"}}, func(u store.User, _ bool) bool { return !u.Disabled }},
		{url.Values{"action": {"add-role"}, "role": {store.RoleUserAdministrator}}, func(_ store.User, role bool) bool { return role }},
		{url.Values{"action": {"remove-role"}, "role": {store.RoleUserAdministrator}}, func(_ store.User, role bool) bool { return !role }},
	} {
		if p := b.post(page, step.form); p.status != http.StatusSeeOther {
			t.Fatalf("%v: %d\n%s", step.form, p.status, p.body)
		}
		u, err := f.meta.GetUser(ctx, u.ObjectID)
		must(t, err)
		role, err := f.meta.HasDirectoryRole(ctx, f.tenant.ID, u.ObjectID, store.RoleUserAdministrator)
		must(t, err)
		if !step.ok(u, role) {
			t.Fatalf("after %v: %+v, User Administrator %v", step.form, u, role)
		}
	}
	wantPage(t, b.get(page+"?delete=1"), http.StatusOK, "Delete this user?", `name="action" value="delete"`)
	if p := b.post(page, url.Values{"action": {"delete"}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/portal/users" {
		t.Fatalf("Delete: %d\n%s", p.status, p.body)
	}
	if _, err := f.meta.GetUser(ctx, u.ObjectID); err == nil {
		t.Fatal("the deleted user is still there")
	}
	wantPage(t, b.get(page), http.StatusNotFound, "Not found")
}
