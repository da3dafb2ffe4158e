package registryauth_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/blob/fsblob"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/registryauth"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/sts"
	"github.com/berthhq/berth/internal/testutil/pgtest"
)

const management = "https://management.core.windows.net/"

func (f *fixture) exchange(directoryToken string) answer {
	return f.post(login, "/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {login}, "access_token": {directoryToken}})
}

// Requests that would get the same token get the same token, until
// something that decides it changes; then the next one carries what is
// granted then.
func TestTokensAreReused(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	f.principal("node", tenantA)
	f.assign("node", f.registryID("myregistry"), authz.AcrPull)
	push := f.assign("node", f.registryID("myregistry"), authz.AcrPush)

	dt := f.directoryToken("node", management)
	r1, r2 := f.exchange(dt).str("refresh_token"), f.exchange(dt).str("refresh_token")
	if r1 == "" || r1 != r2 {
		t.Fatalf("two exchanges of one directory token gave different refresh tokens")
	}
	a1, a2 := f.access(r1, "repository:app:pull,push"), f.access(r1, "repository:app:pull,push")
	if a1.status != 200 || a1.str("access_token") != a2.str("access_token") {
		t.Fatalf("two requests for one scope gave different access tokens: %d %s", a1.status, a1.raw)
	}
	exp := int64(payload(t, a2.str("access_token"))["exp"].(float64))
	if in := int64(a2.body["expires_in"].(float64)); time.Now().Unix()+in > exp {
		t.Errorf("a reused token's expires_in (%d s) says it lives past its exp %d", in, exp)
	}
	if other := f.access(r1, "repository:app:pull"); other.str("access_token") == a1.str("access_token") {
		t.Error("a request for other scopes got the same access token")
	}
	if got := actionsIn(t, a1.str("access_token"))["repository:app"]; got != "pull,push" {
		t.Fatalf("before the removal: %q", got)
	}

	must(t, f.meta.DeleteRoleAssignment(ctx, push))
	a3 := f.access(r1, "repository:app:pull,push")
	if a3.status != 200 || a3.str("access_token") == a1.str("access_token") {
		t.Fatalf("after a role assignment was removed, the same request got the kept token: %d %s", a3.status, a3.raw)
	}
	if got := actionsIn(t, a3.str("access_token"))["repository:app"]; got != "pull" {
		t.Errorf("after the push assignment was removed the token carries %q, want pull", got)
	}
	if r3 := f.exchange(dt).str("refresh_token"); r3 == "" || r3 == r1 {
		t.Error("after a role assignment was removed, the exchange got the kept refresh token")
	}
}

// A kept token is never a way around a refusal: revoking what a request
// proves itself with refuses the request, kept token or not.
func TestReuseRespectsRevocation(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	token := func(auth string) answer {
		return f.v2(login, "GET", "/oauth2/token?service="+login+"&scope=repository:app:pull&offline_token=true", auth)
	}
	renew := func(rt string) answer {
		return f.post(login, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {login}, "refresh_token": {rt}, "scope": {"repository:app:pull"}})
	}

	// A client secret removed.
	f.principal("holder", tenantA)
	f.assign("holder", f.registryID("myregistry"), authz.AcrPull)
	app := f.apps["holder"]
	first := token(basic(app, f.secret[app]))
	rt := first.str("refresh_token")
	if a := renew(rt); a.status != 200 || a.str("access_token") != first.str("access_token") {
		t.Fatalf("no access token kept for the refresh token's request: %d %s", a.status, a.raw)
	}
	a, err := f.meta.GetApplicationByAppID(ctx, app)
	must(t, err)
	creds, err := f.meta.ListPasswordCredentials(ctx, a.ObjectID)
	must(t, err)
	must(t, f.meta.RemovePasswordCredential(ctx, a.ObjectID, creds[0].KeyID))
	if a := renew(rt); a.status != 401 {
		t.Errorf("refresh token after its secret was removed: %d %s", a.status, a.raw)
	}

	// A service principal deleted.
	f.principal("leaver", tenantA)
	f.assign("leaver", f.registryID("myregistry"), authz.AcrPull)
	dt := f.directoryToken("leaver", management)
	rt = f.exchange(dt).str("refresh_token")
	if a, b := renew(rt), renew(rt); a.status != 200 || a.str("access_token") != b.str("access_token") {
		t.Fatalf("no access token kept: %d %s", a.status, a.raw)
	}
	must(t, f.meta.DeleteServicePrincipal(ctx, f.sps["leaver"]))
	if a := renew(rt); a.status != 401 {
		t.Errorf("refresh token of a deleted service principal: %d %s", a.status, a.raw)
	}
	if a := f.exchange(dt); a.status != 401 {
		t.Errorf("exchange for a deleted service principal: %d %s", a.status, a.raw)
	}

	// The admin user, enabled then disabled.
	pw := secret.Generate()
	salt, sum := secret.Hash(pw)
	must(t, f.meta.PutRegistryPassword(ctx, store.RegistryPassword{Registry: "myregistry", Name: "password", Salt: salt, Hash: sum, CreatedAt: time.Now()}))
	setAdmin := func(on bool) {
		owner := controlplane.Caller{TenantID: tenantA, ObjectID: f.sps["owner"]}
		id, _ := resourceid.Parse(f.registryID("myregistry"))
		props, _ := json.Marshal(map[string]any{"adminUserEnabled": on})
		_, _, err := f.cp.PutResource(ctx, owner, id, controlplane.ResourceInput{Properties: props})
		must(t, err)
	}
	setAdmin(true)
	admin := basic("myregistry", pw)
	if a, b := token(admin), token(admin); a.status != 200 || a.str("access_token") != b.str("access_token") {
		t.Fatalf("no admin token kept: %d %s", a.status, a.raw)
	}
	setAdmin(false)
	if a := token(admin); a.status != 401 {
		t.Errorf("admin user after it was disabled: %d %s", a.status, a.raw)
	}
}

// A kept refresh token is not handed to a renewal whose chain ends before
// it would.
func TestReusedTokensEndNoLater(t *testing.T) {
	f := newFixture(t, 0)
	f.principal("chained", tenantA)
	f.assign("chained", f.registryID("myregistry"), authz.AcrPull)
	auth := basic(f.apps["chained"], f.secret[f.apps["chained"]])
	offline := func() string {
		t.Helper()
		a := f.v2(login, "GET", "/oauth2/token?service="+login+"&scope=repository:app:pull&offline_token=true", auth)
		if a.status != 200 || a.str("refresh_token") == "" {
			t.Fatalf("token with offline_token: %d %s", a.status, a.raw)
		}
		return a.str("refresh_token")
	}
	old := offline()
	oldEnd := payload(t, old)["exp"].(float64)
	// Into the next second, and a role assignment elsewhere moves the
	// versions: the next request gets, and keeps, a token that ends later.
	time.Sleep(1100 * time.Millisecond)
	f.assign("nobody", f.registryID("other"), authz.AcrPull)
	later := offline()
	if later == old || payload(t, later)["exp"].(float64) <= oldEnd {
		t.Fatalf("the second chain's token does not end later than the first's")
	}
	a := f.post(login, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {login}, "refresh_token": {old},
		"scope": {"repository:app:pull"}, "offline_token": {"true"}})
	if a.status != 200 {
		t.Fatalf("renewal: %d %s", a.status, a.raw)
	}
	renewed := a.str("refresh_token")
	if renewed == later || payload(t, renewed)["exp"].(float64) > oldEnd {
		t.Errorf("the renewal of a chain ending at %v got a token ending at %v", oldEnd, payload(t, renewed)["exp"])
	}
}

// Two replicas on one PostgreSQL database: B keeps a token, A removes a
// role assignment, and B's next token lacks the grant once B's versions
// follow A's write (the stores' stated bound; slack as in sqlstore's
// replica tests, for a loaded machine).
func TestReuseAcrossReplicas(t *testing.T) {
	dsn := pgtest.Start(t)
	ctx := context.Background()
	open := func() *sqlstore.DB {
		db, err := sqlstore.Open(ctx, dsn)
		must(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	onA, onB := open(), open()
	blobs, err := fsblob.New(t.TempDir())
	must(t, err)
	f := newFixtureOn(t, 0, onA, blobs)
	f.principal("node", tenantA)
	f.assign("node", f.registryID("myregistry"), authz.AcrPull)
	push := f.assign("node", f.registryID("myregistry"), authz.AcrPush)
	rt := f.refresh("node")

	ring := &keys.Ring{Store: onB, MaxTokenLifetime: 24 * time.Hour}
	clients := clientauth.NewChecker(onB)
	b := &registryauth.Service{Store: onB, Authz: &authz.Engine{Store: onB}, Keys: ring, Clients: clients, Suffix: suffix,
		Directory: &sts.Service{Directory: onB, Keys: ring, Clients: clients, Lifetime: time.Hour}}
	token := func() string {
		t.Helper()
		reg, err := b.Registry(ctx, "myregistry")
		must(t, err)
		resp, err := b.Token(ctx, reg, registryauth.TokenRequest{RefreshToken: rt,
			Scopes: []registryauth.Scope{{Type: "repository", Name: "app", Actions: []string{"pull", "push"}}}})
		must(t, err)
		return resp.AccessToken
	}
	const within = 5 * time.Second
	waitFor(t, within, "B keeps tokens (its listener up, its versions vouched for)", func() bool { return token() == token() })
	kept := token()
	if got := actionsIn(t, kept)["repository:app"]; got != "pull,push" {
		t.Fatalf("before the removal B's token carries %q", got)
	}

	must(t, onA.DeleteRoleAssignment(ctx, push))
	waitFor(t, within, "B's token lacks what A removed", func() bool { return actionsIn(t, token())["repository:app"] == "pull" })
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
