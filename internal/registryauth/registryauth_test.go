package registryauth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/jws"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/ociapi"
	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/registryauth"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/sts"
	"github.com/berthhq/berth/internal/testutil/stores"
)

const (
	tenantA = "tenant-a"
	tenantB = "tenant-b"
	suffix  = "cr.test"
)

// fixture is a registry's token service and gate over real stores, real
// signing keys and the real directory token verifier, reached through
// HTTP as clients reach them. Registries "myregistry" and "other" are in
// tenant A, "foreign" in tenant B.
type fixture struct {
	t      testing.TB
	meta   *sqlstore.DB
	ring   *keys.Ring
	sts    *sts.Service
	cp     *controlplane.Service
	srv    *httptest.Server
	gate   *registryauth.Gate
	secret map[string]string // app id -> secret
	sps    map[string]string // name -> service principal object id
	apps   map[string]string // name -> app id
}

func newFixture(t testing.TB, rate float64) *fixture {
	t.Helper()
	meta, blobs := stores.New(t)
	return newFixtureOn(t, rate, meta, blobs)
}

// newFixtureOn is newFixture on the given stores.
func newFixtureOn(t testing.TB, rate float64, meta *sqlstore.DB, blobs blob.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	ring := &keys.Ring{Store: meta, MaxTokenLifetime: 24 * time.Hour}
	must(t, ring.Ensure(ctx))
	engine := &authz.Engine{Store: meta}
	clients := clientauth.NewChecker(meta)
	f := &fixture{t: t, meta: meta, ring: ring, sts: &sts.Service{Directory: meta, Keys: ring, Clients: clients, Lifetime: time.Hour},
		secret: map[string]string{}, sps: map[string]string{}, apps: map[string]string{}}
	f.cp = &controlplane.Service{Store: meta, Authz: engine, Clients: clients, RegistrySuffix: suffix,
		Audit: &audit.Trail{Store: meta, Log: slog.New(slog.DiscardHandler)}}
	now := time.Now()
	for _, tid := range []string{tenantA, tenantB} {
		must(t, meta.CreateTenant(ctx, store.Tenant{ID: tid, Domain: tid + ".example", CreatedAt: now}))
		must(t, meta.CreateSubscription(ctx, store.Subscription{ID: "sub-" + tid, TenantID: tid, CreatedAt: now}))
	}
	for name, tid := range map[string]string{"myregistry": tenantA, "other": tenantA, "foreign": tenantB} {
		sub, _ := meta.GetSubscription(ctx, "sub-"+tid)
		_, err := f.cp.EnsureRegistry(ctx, sub, "g", "here", name)
		must(t, err)
	}
	for _, name := range []string{"puller", "pusher", "deleter", "reader", "owner", "nobody"} {
		f.principal(name, tenantA)
	}
	f.principal("stranger", tenantB)
	f.assign("puller", f.registryID("myregistry"), authz.AcrPull)
	f.assign("pusher", f.registryID("myregistry"), authz.AcrPush)
	f.assign("deleter", f.registryID("myregistry"), authz.AcrDelete)
	f.assign("reader", "/subscriptions/sub-"+tenantA, authz.Reader)
	f.assign("owner", "/subscriptions/sub-"+tenantA, authz.Owner)
	f.assign("stranger", "/subscriptions/sub-"+tenantB, authz.Owner)

	svc := &registryauth.Service{Store: meta, Authz: engine, Keys: ring, Directory: f.sts, Clients: clients, Suffix: suffix}
	f.gate = &registryauth.Gate{Service: svc, Throttle: &registryauth.Throttle{Rate: rate, Burst: 2}}
	registryFor := func(r *http.Request) (string, error) {
		name, ok := strings.CutSuffix(strings.Split(r.Host, ":")[0], "."+suffix)
		if !ok {
			return "myregistry", nil
		}
		return name, nil
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	oci := &ociapi.Handler{Service: registry.New(meta, blobs), Auth: f.gate, RegistryFor: registryFor, Log: log}
	tokens := &registryauth.TokenHandler{Service: svc, RegistryFor: registryFor, Log: log}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if registryauth.Match(r.URL.Path) {
			tokens.ServeHTTP(w, r)
			return
		}
		oci.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) registryID(name string) string {
	tid := tenantA
	if name == "foreign" {
		tid = tenantB
	}
	return resourceid.Resource("sub-"+tid, "g", resourcetype.Registry, name).String()
}

// principal makes an application with a secret and its service principal.
func (f *fixture) principal(name, tid string) {
	ctx := context.Background()
	now := time.Now()
	app := store.Application{ObjectID: ids.New(), AppID: ids.New(), TenantID: tid, DisplayName: name, SignInAudience: "AzureADMyOrg", CreatedAt: now}
	must(f.t, f.meta.CreateApplication(ctx, app))
	s := secret.Generate()
	salt, sum := secret.Hash(s)
	must(f.t, f.meta.AddPasswordCredential(ctx, store.PasswordCredential{KeyID: ids.New(), AppObjectID: app.ObjectID, Hint: s[:3], Salt: salt, Hash: sum,
		StartDateTime: now.Add(-time.Minute), EndDateTime: now.Add(time.Hour)}))
	sp := ids.New()
	must(f.t, f.meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: sp, TenantID: tid, AppID: app.AppID, AppOwnerTenantID: tid, Type: store.PrincipalApplication, DisplayName: name, CreatedAt: now}))
	f.secret[app.AppID], f.sps[name], f.apps[name] = s, sp, app.AppID
}

func (f *fixture) assign(name, scope, role string) string {
	id := ids.New()
	must(f.t, f.meta.CreateRoleAssignment(context.Background(), store.RoleAssignment{ID: id, Scope: scope, RoleDefinitionID: role,
		PrincipalID: f.sps[name], PrincipalType: "ServicePrincipal", TenantID: tenantA, CreatedAt: time.Now()}))
	return id
}

// directoryToken gets a real token from the token service for a
// principal, for resource.
func (f *fixture) directoryToken(name, resource string) string {
	f.t.Helper()
	app := f.apps[name]
	tid := tenantA
	if name == "stranger" {
		tid = tenantB
	}
	tok, err := f.sts.Issue(context.Background(), sts.ClientCredentials{
		Tenant: tid, ClientID: app, ClientSecret: f.secret[app], Resource: resource, Authority: "https://login.test",
	})
	must(f.t, err)
	return tok.AccessToken
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func (f *fixture) send(req *http.Request) answer {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	must(f.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.body)
	return a
}

// post sends a form to a token endpoint at host (a login server).
func (f *fixture) post(host, path string, form url.Values) answer {
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = host
	return f.send(req)
}

// v2 sends a registry request at host with an Authorization header.
func (f *fixture) v2(host, method, path, auth string) answer {
	req, _ := http.NewRequest(method, f.srv.URL+path, nil)
	req.Host = host
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return f.send(req)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

const login = "myregistry." + suffix

// refresh exchanges a principal's management token for a refresh token.
func (f *fixture) refresh(name string) string {
	f.t.Helper()
	a := f.post(login, "/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {login},
		"access_token": {f.directoryToken(name, "https://management.core.windows.net/")}, "tenant": {tenantA}})
	if a.status != 200 || a.str("refresh_token") == "" {
		f.t.Fatalf("exchange for %s: %d %s", name, a.status, a.raw)
	}
	return a.str("refresh_token")
}

func (f *fixture) access(refresh string, scopes ...string) answer {
	return f.post(login, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {login}, "refresh_token": {refresh}, "scope": scopes})
}

func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	seg := strings.Split(token, ".")[1]
	// As the Go registry SDK reads it: standard base64 after re-padding.
	if m := len(seg) % 4; m != 0 {
		seg += strings.Repeat("=", 4-m)
	}
	b, err := base64.StdEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("payload is not standard base64: %v", err)
	}
	var c map[string]any
	must(t, json.Unmarshal(b, &c))
	return c
}

func actionsIn(t *testing.T, token string) map[string]string {
	out := map[string]string{}
	for _, a := range payload(t, token)["access"].([]any) {
		m := a.(map[string]any)
		var acts []string
		for _, x := range m["actions"].([]any) {
			acts = append(acts, x.(string))
		}
		out[m["type"].(string)+":"+m["name"].(string)] = strings.Join(acts, ",")
	}
	return out
}

func TestTokensCarryWhatRolesGrant(t *testing.T) {
	f := newFixture(t, 0)
	scopes := []string{"repository:app:pull,push,delete", "repository:team/tool:*", "registry:catalog:*"}
	cases := map[string]map[string]string{
		"puller":  {"repository:app": "pull", "repository:team/tool": "metadata_read,pull", "registry:catalog": "*"},
		"pusher":  {"repository:app": "pull,push", "repository:team/tool": "metadata_read,metadata_write,pull,push", "registry:catalog": "*"},
		"deleter": {"repository:app": "delete", "repository:team/tool": "delete", "registry:catalog": "*"},
		"reader":  {"repository:app": "pull", "repository:team/tool": "metadata_read,pull", "registry:catalog": "*"},
		"owner":   {"repository:app": "pull,push,delete", "repository:team/tool": "delete,metadata_read,metadata_write,pull,push", "registry:catalog": "*"},
	}
	for name, want := range cases {
		// Scopes repeated and space-separated in one value.
		a := f.access(f.refresh(name), scopes[0], scopes[1]+" "+scopes[2])
		if a.status != 200 {
			t.Fatalf("%s: token: %d %s", name, a.status, a.raw)
		}
		got := actionsIn(t, a.str("access_token"))
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s carries %q, want %q", name, k, got[k], v)
			}
		}
		c := payload(t, a.str("access_token"))
		if c["aud"] != login || c["iss"] != login || c["tenant"] != tenantA || c["grant_type"] != "access_token" || c["sub"] != f.sps[name] {
			t.Errorf("%s: claims %v", name, c)
		}
		if exp := int64(c["exp"].(float64)) - time.Now().Unix(); exp < 74*60 || exp > 76*60 {
			t.Errorf("%s: access token lives %d s, want 75 min", name, exp)
		}
	}
	rc := payload(t, f.refresh("puller"))
	if exp := int64(rc["exp"].(float64)) - time.Now().Unix(); rc["grant_type"] != "refresh_token" || exp < 179*60 || exp > 181*60 {
		t.Errorf("refresh token: %v (lives %d s)", rc, exp)
	}
}

func TestExchangeRefusals(t *testing.T) {
	f := newFixture(t, 0)
	exchange := func(host string, form url.Values) answer { return f.post(host, "/oauth2/exchange", form) }
	mgmt := f.directoryToken("puller", "https://management.core.windows.net/")
	ok := url.Values{"grant_type": {"access_token"}, "service": {login}, "access_token": {mgmt}}
	if a := exchange(login, ok); a.status != 200 {
		t.Fatalf("exchange: %d %s", a.status, a.raw)
	}
	// Both grant types, and registry-audience tokens.
	both := url.Values{"grant_type": {"access_token_refresh_token"}, "service": {login}, "access_token": {mgmt}, "refresh_token": {mgmt}}
	if a := exchange(login, both); a.status != 200 {
		t.Fatalf("access_token_refresh_token: %d %s", a.status, a.raw)
	}
	reg := url.Values{"grant_type": {"access_token"}, "service": {login}, "access_token": {f.directoryToken("puller", "https://containerregistry.azure.net")}}
	if a := exchange(login, reg); a.status != 200 {
		t.Fatalf("registry-audience token: %d %s", a.status, a.raw)
	}

	refuse := func(what string, host string, form url.Values, status int) {
		t.Helper()
		a := exchange(host, form)
		errs, _ := a.body["errors"].([]any)
		if a.status != status || len(errs) != 1 {
			t.Errorf("%s: %d %s, want %d with an errors body", what, a.status, a.raw, status)
		}
	}
	with := func(k, v string) url.Values {
		c := url.Values{}
		for kk, vv := range ok {
			c[kk] = vv
		}
		c.Set(k, v)
		return c
	}
	refuse("a directory token for the directory", login, with("access_token", f.directoryToken("puller", "https://graph.microsoft.com")), 401)
	refuse("another tenant's token", login, with("access_token", f.directoryToken("stranger", "https://management.core.windows.net/")), 401)
	refuse("a tenant parameter naming another tenant", login, with("tenant", tenantB), 401)
	refuse("a principal with no role here", login, with("access_token", f.directoryToken("nobody", "https://management.core.windows.net/")), 401)
	refuse("a principal whose role is on another registry", "other."+suffix, with("service", "other."+suffix), 401)
	refuse("a service naming another registry", login, with("service", "other."+suffix), 400)
	refuse("no grant type", login, with("grant_type", ""), 400)
	refuse("an unknown grant type", login, with("grant_type", "password"), 400)
	refuse("no access token", login, with("access_token", ""), 400)
	refuse("garbage", login, with("access_token", "not.a.jwt"), 401)
	refuse("a registry refresh token", login, with("access_token", f.refresh("puller")), 401)
	refuse("an unknown registry", "nosuch."+suffix, with("service", ""), 404)
	if a := f.post(login, "/oauth2/exchange", nil); a.status != 400 {
		t.Errorf("empty form: %d", a.status)
	}
}

// forge signs claims with alg and key material that berth must refuse.
func forge(t *testing.T, f *fixture, alg string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": alg, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	switch alg {
	case "none":
		return signing + "."
	case "HS256":
		// The classic confusion: HMAC keyed with the public key.
		k, err := f.ring.Signing(context.Background(), time.Now())
		must(t, err)
		pub, _ := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
		m := hmac.New(sha256.New, pub)
		m.Write([]byte(signing))
		return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	t.Fatalf("alg %s", alg)
	return ""
}

func TestAccessTokenAttacks(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	good := f.access(f.refresh("pusher"), "repository:app:pull,push").str("access_token")
	if a := f.v2(login, "GET", "/v2/app/tags/list", "Bearer "+good); a.status != 404 {
		// NAME_UNKNOWN: the token got the request through to the registry.
		t.Fatalf("a good token: %d %s", a.status, a.raw)
	}
	claims := payload(t, good)
	sign := func(mod func(map[string]any)) string {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		mod(c)
		k, err := f.ring.Signing(ctx, time.Now())
		must(t, err)
		tok, err := jws.Sign(k, nil, c)
		must(t, err)
		return tok
	}
	now := time.Now()
	attacks := map[string]string{
		"alg none":                  forge(t, f, "none", claims),
		"HS256 with the public key": forge(t, f, "HS256", claims),
		"expired":                   sign(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Hour).Unix() }),
		"not yet valid":             sign(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }),
		"wrong audience":            sign(func(c map[string]any) { c["aud"] = "other." + suffix }),
		"another tenant":            sign(func(c map[string]any) { c["tenant"] = tenantB }),
		"a refresh token":           f.refresh("pusher"),
		"a directory token":         f.directoryToken("pusher", "https://containerregistry.azure.net"),
		"tampered":                  strings.Replace(good, ".", ".x", 1),
	}
	for name, tok := range attacks {
		a := f.v2(login, "GET", "/v2/app/tags/list", "Bearer "+tok)
		if a.status != 401 || !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q %s", name, a.status, a.header.Get("WWW-Authenticate"), a.raw)
		}
	}
	// Another registry's token, at that registry: refused.
	if a := f.v2("other."+suffix, "GET", "/v2/app/tags/list", "Bearer "+good); a.status != 401 {
		t.Errorf("a token at another registry: %d", a.status)
	}
	// An access token is no refresh token.
	if a := f.access(good, "repository:app:pull"); a.status != 401 {
		t.Errorf("an access token as a refresh token: %d %s", a.status, a.raw)
	}
	// Nor is a refresh token of another registry.
	if a := f.post("other."+suffix, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.refresh("owner")}, "scope": {"repository:app:pull"}}); a.status != 401 {
		t.Errorf("another registry's refresh token: %d %s", a.status, a.raw)
	}
}

func TestChallengesAndScopes(t *testing.T) {
	f := newFixture(t, 0)
	a := f.v2(login, "GET", "/v2/", "")
	// The test server speaks plain HTTP, so the realm does too.
	want := `Bearer realm="http://` + login + `/oauth2/token",service="` + login + `"`
	if a.status != 401 || a.header.Get("WWW-Authenticate") != want || a.header.Get("Docker-Distribution-Api-Version") != "registry/2.0" {
		t.Fatalf("/v2/ without credentials: %d %q", a.status, a.header.Get("WWW-Authenticate"))
	}
	a = f.v2(login, "GET", "/v2/team/app/manifests/v1", "")
	if a.status != 401 || !strings.HasSuffix(a.header.Get("WWW-Authenticate"), `,scope="repository:team/app:pull"`) {
		t.Fatalf("a manifest without credentials: %d %q", a.status, a.header.Get("WWW-Authenticate"))
	}
	pull := f.access(f.refresh("puller"), "repository:app:pull,push").str("access_token")
	if a := f.v2(login, "GET", "/v2/", "Bearer "+pull); a.status != 200 {
		t.Fatalf("/v2/ with a token: %d", a.status)
	}
	a = f.v2(login, "POST", "/v2/app/blobs/uploads/", "Bearer "+pull)
	if a.status != 401 || !strings.Contains(a.header.Get("WWW-Authenticate"), `scope="repository:app:pull,push",error="insufficient_scope"`) ||
		!strings.Contains(fmt.Sprint(a.body["errors"]), "AcrPush grants push") {
		t.Fatalf("a push with a pull token: %d %q %v", a.status, a.header.Get("WWW-Authenticate"), a.body)
	}
	// Basic credentials: a service principal's, checked the same way.
	puller := basic(f.apps["puller"], f.secret[f.apps["puller"]])
	if a := f.v2(login, "GET", "/v2/", puller); a.status != 200 {
		t.Fatalf("/v2/ with Basic: %d", a.status)
	}
	if a := f.v2(login, "POST", "/v2/app/blobs/uploads/", puller); a.status != 403 {
		t.Fatalf("a push with AcrPull's Basic credentials: %d %s", a.status, a.raw)
	}
	a = f.v2(login, "GET", "/v2/", basic(f.apps["puller"], "wrong"))
	if a.status != 401 || a.header.Get("WWW-Authenticate") != `Basic realm="`+login+`"` {
		t.Fatalf("bad Basic credentials: %d %q", a.status, a.header.Get("WWW-Authenticate"))
	}
	// Another tenant's principal has no service principal here.
	if a := f.v2(login, "GET", "/v2/", basic(f.apps["stranger"], f.secret[f.apps["stranger"]])); a.status != 401 {
		t.Fatalf("another tenant's credentials: %d", a.status)
	}
	// Basic at the token endpoint, with GET, and the null user with a
	// refresh token.
	req, _ := http.NewRequest("GET", f.srv.URL+"/oauth2/token?service="+login+"&scope=repository:app:pull&scope=repository:b:push", nil)
	req.Host = login
	req.Header.Set("Authorization", basic(f.apps["pusher"], f.secret[f.apps["pusher"]]))
	a = f.send(req)
	if a.status != 200 || actionsIn(t, a.str("access_token"))["repository:b"] != "push" {
		t.Fatalf("GET token with Basic: %d %s", a.status, a.raw)
	}
	req.Header.Set("Authorization", basic(registryauth.NullUser, f.refresh("puller")))
	if a := f.send(req); a.status != 200 || actionsIn(t, a.str("access_token"))["repository:b"] != "" {
		t.Fatalf("GET token with the null user: %d %s", a.status, a.raw)
	}
	// containerd's POST: grant_type=password with username and password.
	a = f.post(login, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {f.apps["puller"]}, "password": {f.secret[f.apps["puller"]]},
		"scope": {"repository:app:pull"}, "service": {login}, "client_id": {"containerd-client"}, "access_type": {"offline"}})
	if a.status != 200 || a.str("refresh_token") == "" || actionsIn(t, a.str("access_token"))["repository:app"] != "pull" {
		t.Fatalf("containerd's POST: %d %s", a.status, a.raw)
	}
	for what, form := range map[string]url.Values{
		"a malformed scope": {"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "scope": {"repository:app"}},
		"a bad repository":  {"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "scope": {"repository:UPPER:pull"}},
		"no refresh token":  {"grant_type": {"refresh_token"}},
		"an unknown grant":  {"grant_type": {"client_credentials"}},
		"another service":   {"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "service": {"evil.example"}},
	} {
		if a := f.post(login, "/oauth2/token", form); a.status != 400 {
			t.Errorf("%s: %d %s", what, a.status, a.raw)
		}
	}
}

func TestCatalogListsWhatCallerMayPull(t *testing.T) {
	f := newFixture(t, 0)
	owner := basic(f.apps["owner"], f.secret[f.apps["owner"]])
	for _, repo := range []string{"alpha", "beta", "gamma"} {
		a := f.v2(login, "POST", "/v2/"+repo+"/blobs/uploads/?digest=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", owner)
		if a.status != 201 {
			t.Fatalf("push to %s: %d %s", repo, a.status, a.raw)
		}
	}
	// A principal with AcrPull on one repository only.
	f.principal("narrow", tenantA)
	f.assign("narrow", f.registryID("myregistry")+"/repositories/beta", authz.AcrPull)
	list := func(auth string) string {
		t.Helper()
		a := f.v2(login, "GET", "/v2/_catalog", auth)
		if a.status != 200 {
			t.Fatalf("catalog: %d %s", a.status, a.raw)
		}
		b, _ := json.Marshal(a.body["repositories"])
		return string(b)
	}
	if got := list(owner); got != `["alpha","beta","gamma"]` {
		t.Errorf("owner's catalog: %s", got)
	}
	if got := list(basic(f.apps["narrow"], f.secret[f.apps["narrow"]])); got != `["beta"]` {
		t.Errorf("a repository-scoped puller's catalog: %s", got)
	}
	if a := f.v2(login, "GET", "/v2/_catalog", basic(f.apps["nobody"], f.secret[f.apps["nobody"]])); a.status != 403 {
		t.Errorf("catalog of a principal with no role: %d", a.status)
	}
	tok := f.access(f.refresh("narrow"), "registry:catalog:*").str("access_token")
	if got := list("Bearer " + tok); got != `["beta"]` {
		t.Errorf("catalog with a token: %s", got)
	}
}

func TestRemovedAssignmentAndAdminUser(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	f.principal("temp", tenantA)
	id := f.assign("temp", f.registryID("myregistry"), authz.AcrPull)
	rt := f.refresh("temp")
	if a := f.access(rt, "repository:app:pull"); a.status != 200 {
		t.Fatal(a.raw)
	}
	must(t, f.meta.DeleteRoleAssignment(ctx, id))
	if a := f.access(rt, "repository:app:pull"); a.status != 401 {
		t.Fatalf("token request after the assignment was removed: %d %s", a.status, a.raw)
	}
	if a := f.post(login, "/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "access_token": {f.directoryToken("temp", "https://management.core.windows.net/")}}); a.status != 401 {
		t.Fatalf("exchange after the assignment was removed: %d %s", a.status, a.raw)
	}
	if a := f.v2(login, "GET", "/v2/app/tags/list", basic(f.apps["temp"], f.secret[f.apps["temp"]])); a.status != 403 {
		t.Fatalf("Basic after the assignment was removed: %d", a.status)
	}

	// The admin user: off by default, on with a password, off again.
	pw := secret.Generate()
	salt, sum := secret.Hash(pw)
	must(t, f.meta.PutRegistryPassword(ctx, store.RegistryPassword{Registry: "myregistry", Name: "password", Hint: pw[:3], Salt: salt, Hash: sum, CreatedAt: time.Now()}))
	admin := basic("myregistry", pw)
	if a := f.v2(login, "GET", "/v2/", admin); a.status != 401 {
		t.Fatalf("admin user while disabled: %d", a.status)
	}
	setAdmin := func(on bool) {
		owner := controlplane.Caller{TenantID: tenantA, ObjectID: f.sps["owner"]}
		id, _ := resourceid.Parse(f.registryID("myregistry"))
		props, _ := json.Marshal(map[string]any{"adminUserEnabled": on})
		_, _, err := f.cp.PutResource(ctx, owner, id, controlplane.ResourceInput{Properties: props})
		must(t, err)
	}
	setAdmin(true)
	if a := f.v2(login, "POST", "/v2/app/blobs/uploads/", admin); a.status != 202 {
		t.Fatalf("admin user push: %d %s", a.status, a.raw)
	}
	if a := f.v2(login, "GET", "/v2/", basic("myregistry", "wrong")); a.status != 401 {
		t.Fatalf("admin user with a wrong password: %d", a.status)
	}
	setAdmin(false)
	if a := f.v2(login, "GET", "/v2/", admin); a.status != 401 {
		t.Fatalf("admin user after it was disabled: %d", a.status)
	}
}

func TestAnonymousPull(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	if a := f.post(login, "/oauth2/token", url.Values{"grant_type": {"password"}, "refresh_token": {""}, "scope": {"repository:app:pull"}}); a.status != 401 {
		t.Fatalf("anonymous token while anonymous pull is off: %d", a.status)
	}
	owner := controlplane.Caller{TenantID: tenantA, ObjectID: f.sps["owner"]}
	id, _ := resourceid.Parse(f.registryID("myregistry"))
	_, _, err := f.cp.PutResource(ctx, owner, id, controlplane.ResourceInput{Properties: json.RawMessage(`{"anonymousPullEnabled":true}`)})
	must(t, err)
	a := f.post(login, "/oauth2/token", url.Values{"grant_type": {"password"}, "refresh_token": {""}, "scope": {"repository:app:pull,push"}})
	if a.status != 200 || actionsIn(t, a.str("access_token"))["repository:app"] != "pull" {
		t.Fatalf("anonymous token: %d %s", a.status, a.raw)
	}
	if a := f.v2(login, "GET", "/v2/app/tags/list", ""); a.status != 404 {
		t.Fatalf("anonymous pull without a token: %d %s", a.status, a.raw)
	}
	if a := f.v2(login, "POST", "/v2/app/blobs/uploads/", ""); a.status != 401 {
		t.Fatalf("anonymous push: %d", a.status)
	}
	// /v2/ still challenges: that is how clients find the token service.
	if a := f.v2(login, "GET", "/v2/", ""); a.status != 401 {
		t.Fatalf("/v2/ with anonymous pull on: %d", a.status)
	}
}

func TestThrottle(t *testing.T) {
	f := newFixture(t, 1) // one request a second, bursts of two
	puller := basic(f.apps["puller"], f.secret[f.apps["puller"]])
	var last answer
	for range 3 {
		last = f.v2(login, "GET", "/v2/", puller)
	}
	errs, _ := last.body["errors"].([]any)
	if last.status != 429 || last.header.Get("Retry-After") == "" || len(errs) != 1 || errs[0].(map[string]any)["code"] != "TOOMANYREQUESTS" {
		t.Fatalf("third request in a second: %d %q %s", last.status, last.header.Get("Retry-After"), last.raw)
	}
	// Another principal has its own budget.
	if a := f.v2(login, "GET", "/v2/", basic(f.apps["pusher"], f.secret[f.apps["pusher"]])); a.status != 200 {
		t.Fatalf("another principal: %d", a.status)
	}
}

// TestRecreatedRegistryRefusesOldTokens: a registry deleted and made
// again under the same name, in the same tenant, is another registry; the
// first one's tokens, cached by the gate or not, do not open it.
func TestRecreatedRegistryRefusesOldTokens(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	rt := f.refresh("owner")
	used := f.access(rt, "repository:app:pull").str("access_token")
	unused := f.access(rt, "repository:app:pull").str("access_token")
	if a := f.v2(login, "GET", "/v2/app/tags/list", "Bearer "+used); a.status != 404 {
		t.Fatalf("the token before: %d %s", a.status, a.raw)
	}
	owner := controlplane.Caller{TenantID: tenantA, ObjectID: f.sps["owner"]}
	id, _ := resourceid.Parse(f.registryID("myregistry"))
	if _, err := f.cp.DeleteResource(ctx, owner, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.cp.PutResource(ctx, owner, id, controlplane.ResourceInput{}); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"a cached token": used, "an uncached token": unused} {
		if a := f.v2(login, "GET", "/v2/app/tags/list", "Bearer "+tok); a.status != 401 {
			t.Errorf("%s of the deleted registry: %d %s", name, a.status, a.raw)
		}
	}
	if a := f.access(rt, "repository:app:pull"); a.status != 401 {
		t.Errorf("a refresh token of the deleted registry: %d %s", a.status, a.raw)
	}
	// The owner's role at the subscription still reaches the new one.
	if a := f.access(f.refresh("owner"), "repository:app:pull"); a.status != 200 {
		t.Errorf("a new refresh token: %d %s", a.status, a.raw)
	}
}

// A refresh token does not outlive what it was minted from: a removed
// client secret, a renewed admin password or a deleted service principal
// ends its chain, and renewing it never moves its end.
func TestRefreshTokensEndWithTheirOrigin(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	offline := func(auth string) string {
		t.Helper()
		a := f.v2(login, "GET", "/oauth2/token?service="+login+"&scope=repository:app:pull&offline_token=true", auth)
		if a.status != 200 || a.str("refresh_token") == "" {
			t.Fatalf("token with offline_token: %d %s", a.status, a.raw)
		}
		return a.str("refresh_token")
	}
	renew := func(rt string) answer {
		return f.post(login, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {login}, "refresh_token": {rt},
			"scope": {"repository:app:pull"}, "offline_token": {"true"}})
	}

	// A chain renewed again and again keeps its first end.
	f.principal("renewer", tenantA)
	f.assign("renewer", f.registryID("myregistry"), authz.AcrPull)
	rt := offline(basic(f.apps["renewer"], f.secret[f.apps["renewer"]]))
	first := payload(t, rt)["exp"].(float64)
	// Into the next second, so that a renewal that restarted the
	// lifetime would end later than the first token.
	time.Sleep(1100 * time.Millisecond)
	for i := 0; i < 3; i++ {
		a := renew(rt)
		if a.status != 200 || a.str("refresh_token") == "" {
			t.Fatalf("renewal %d: %d %s", i, a.status, a.raw)
		}
		rt = a.str("refresh_token")
		if exp := payload(t, rt)["exp"].(float64); exp > first {
			t.Fatalf("renewal %d moved the chain's end from %v to %v", i, first, exp)
		}
	}

	// A client secret removed.
	f.principal("secretive", tenantA)
	f.assign("secretive", f.registryID("myregistry"), authz.AcrPull)
	app := f.apps["secretive"]
	rt = offline(basic(app, f.secret[app]))
	renewed := renew(rt).str("refresh_token")
	a, err := f.meta.GetApplicationByAppID(ctx, app)
	must(t, err)
	creds, err := f.meta.ListPasswordCredentials(ctx, a.ObjectID)
	must(t, err)
	must(t, f.meta.RemovePasswordCredential(ctx, a.ObjectID, creds[0].KeyID))
	for name, tok := range map[string]string{"the first refresh token": rt, "its renewal": renewed} {
		if a := renew(tok); a.status != 401 {
			t.Errorf("%s after its secret was removed: %d %s", name, a.status, a.raw)
		}
		if a := f.v2(login, "GET", "/v2/", basic(registryauth.NullUser, tok)); a.status != 401 {
			t.Errorf("%s as Basic credentials after its secret was removed: %d", name, a.status)
		}
	}

	// An admin password renewed.
	pw := secret.Generate()
	salt, sum := secret.Hash(pw)
	must(t, f.meta.PutRegistryPassword(ctx, store.RegistryPassword{Registry: "myregistry", Name: "password", Salt: salt, Hash: sum, CreatedAt: time.Now()}))
	owner := controlplane.Caller{TenantID: tenantA, ObjectID: f.sps["owner"]}
	regID, _ := resourceid.Parse(f.registryID("myregistry"))
	_, _, err = f.cp.PutResource(ctx, owner, regID, controlplane.ResourceInput{Properties: json.RawMessage(`{"adminUserEnabled":true}`)})
	must(t, err)
	rt = offline(basic("myregistry", pw))
	if a := renew(rt); a.status != 200 {
		t.Fatalf("admin refresh token before the renewal: %d %s", a.status, a.raw)
	}
	salt, sum = secret.Hash(secret.Generate())
	must(t, f.meta.PutRegistryPassword(ctx, store.RegistryPassword{Registry: "myregistry", Name: "password", Salt: salt, Hash: sum, CreatedAt: time.Now()}))
	if a := renew(rt); a.status != 401 {
		t.Errorf("admin refresh token after its password was renewed: %d %s", a.status, a.raw)
	}

	// A service principal deleted (consent withdrawn), its assignment
	// left behind.
	f.principal("consented", tenantA)
	f.assign("consented", f.registryID("myregistry"), authz.AcrPull)
	rt = f.refresh("consented")
	must(t, f.meta.DeleteServicePrincipal(ctx, f.sps["consented"]))
	if a := renew(rt); a.status != 401 {
		t.Errorf("refresh token of a deleted service principal: %d %s", a.status, a.raw)
	}
}

// A token request cannot make a token as large as it likes: repeated
// scopes are merged and distinct ones are bounded.
func TestScopesAreBounded(t *testing.T) {
	f := newFixture(t, 0)
	auth := basic(f.apps["puller"], f.secret[f.apps["puller"]])
	q := url.Values{"service": {login}}
	for i := 0; i < 5000; i++ {
		q.Add("scope", "repository:app:pull,pull")
	}
	a := f.v2(login, "GET", "/oauth2/token?"+q.Encode(), auth)
	if a.status != 200 {
		t.Fatalf("5,000 copies of one scope: %d %.200s", a.status, a.raw)
	}
	if tok := a.str("access_token"); len(tok) > 4096 {
		t.Errorf("5,000 copies of one scope made a %d-byte token", len(tok))
	}
	if got := actionsIn(t, a.str("access_token")); len(got) != 1 || got["repository:app"] != "pull" {
		t.Errorf("merged scope carries %v", got)
	}
	q = url.Values{"service": {login}}
	for i := 0; i <= registryauth.MaxScopes; i++ {
		q.Add("scope", fmt.Sprintf("repository:app%d:pull", i))
	}
	if a := f.v2(login, "GET", "/oauth2/token?"+q.Encode(), auth); a.status != 400 {
		t.Errorf("%d distinct scopes: %d %.200s", registryauth.MaxScopes+1, a.status, a.raw)
	}
}
