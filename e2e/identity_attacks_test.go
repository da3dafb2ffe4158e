package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryToken asks a registry's token endpoint (GET, Basic
// credentials) for a token for scope; offline asks for a refresh token
// too.
func (e *identityEnv) registryToken(loginServer string, p principal, scope string) (access, refresh string) {
	e.t.Helper()
	host, _, _ := net.SplitHostPort(loginServer)
	q := url.Values{"service": {host}, "scope": {scope}, "offline_token": {"true"}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+loginServer+"/oauth2/token?"+q.Encode(), nil)
	req.SetBasicAuth(p.appID, p.secret)
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &body) != nil || body.AccessToken == "" || body.RefreshToken == "" {
		e.t.Fatalf("token at %s: %d %s", loginServer, resp.StatusCode, b)
	}
	return body.AccessToken, body.RefreshToken
}

// call sends one request to host (a login server, or the server's own
// address for the default registry) with an Authorization header.
func (e *identityEnv) call(method, host, path, authorization string, form url.Values) (int, http.Header) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, "https://"+host+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestTokenOfAnotherRegistry: on one server, tokens that registry alpha
// issued are refused at registry beta's login server and at the default
// registry on the server's address, though the principal has the same
// role on beta and the token has already been accepted (and cached) at
// alpha.
func TestTokenOfAnotherRegistry(t *testing.T) {
	t.Parallel()
	e := newIdentityEnv(t, "alphareg")
	e.run("acr", "create", "-n", "betareg", "-g", "images", "-o", "none")
	betaID := e.run("acr", "show", "-n", "betareg", "--query", "id", "-o", "tsv")
	defaultID := e.run("acr", "show", "-n", e.s.Boot.Registry, "--query", "id", "-o", "tsv")
	p := e.principal("two-registries", "acrpush", "")
	e.run("role", "assignment", "create", "--assignee", p.appID, "--role", "acrpush", "--scope", betaID, "-o", "none")
	e.run("role", "assignment", "create", "--assignee", p.appID, "--role", "acrpush", "--scope", defaultID, "-o", "none")
	beta := "betareg" + strings.TrimPrefix(e.loginServer, "alphareg")

	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 512)
	cfg := authn.AuthConfig{Username: p.appID, Password: p.secret}
	for _, host := range []string{e.loginServer, beta, e.s.Host} {
		ref := e.ref("app:v1")
		if host != e.loginServer {
			ref = mustRef(t, host+"/app:v1")
		}
		if err := remote.Write(ref, img, e.ggcr(t.Context(), cfg)...); err != nil {
			t.Fatalf("push to %s: %v", host, err)
		}
	}

	access, refresh := e.registryToken(e.loginServer, p, "repository:app:pull")
	const manifest = "/v2/app/manifests/v1"
	if status, _ := e.call(http.MethodGet, e.loginServer, manifest, "Bearer "+access, nil); status != http.StatusOK {
		t.Fatalf("alpha's token at alpha: %d", status)
	}
	for _, host := range []string{beta, e.s.Host} {
		status, hdr := e.call(http.MethodGet, host, manifest, "Bearer "+access, nil)
		if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("alpha's access token at %s: %d %q", host, status, hdr.Get("WWW-Authenticate"))
		}
		if status, _ := e.call(http.MethodGet, host, manifest, basicAuth(nullUser, refresh), nil); status != http.StatusUnauthorized {
			t.Errorf("alpha's refresh token as the null user's password at %s: %d", host, status)
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "scope": {"repository:app:pull"}}
		if status, _ := e.call(http.MethodPost, host, "/oauth2/token", "", form); status != http.StatusUnauthorized {
			t.Errorf("alpha's refresh token at %s's token endpoint: %d", host, status)
		}
		// Naming alpha as the service at beta's endpoint gets no token
		// for alpha either.
		alphaHost, _, _ := net.SplitHostPort(e.loginServer)
		form.Set("service", alphaHost)
		if status, _ := e.call(http.MethodPost, host, "/oauth2/token", "", form); status == http.StatusOK {
			t.Errorf("service=%s at %s's token endpoint: %d", alphaHost, host, status)
		}
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func basicAuth(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

// TestRemovedRoleAssignmentRefusesClient: once `berth role assignment
// delete` removes a principal's AcrPull, the next token request of a
// real client is refused, whether it holds the principal's secret, a
// registry refresh token from before, or a directory token to exchange.
func TestRemovedRoleAssignmentRefusesClient(t *testing.T) {
	t.Parallel()
	e := newIdentityEnv(t, "revoked")
	ctx := t.Context()
	pusher := e.principal("revoked-pusher", "acrpush", "")
	puller := e.principal("revoked-puller", "acrpull", "")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 512)
	e.pushAs(pusher, "app:v1", img)

	dirToken := directoryToken(t, e.s, puller, "https://containerregistry.azure.net")
	status, rt := e.exchange(e.loginServer, dirToken)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d", status)
	}
	creds := map[string]authn.AuthConfig{
		"app id and secret":              {Username: puller.appID, Password: puller.secret},
		"null user with a refresh token": {Username: nullUser, Password: rt},
	}
	for what, cfg := range creds {
		if _, err := remote.Image(e.ref("app:v1"), e.ggcr(ctx, cfg)...); err != nil {
			t.Fatalf("pull with %s before the removal: %v", what, err)
		}
	}

	e.run("role", "assignment", "delete", "--assignee", puller.appID, "--role", "acrpull", "--scope", e.registryID, "-o", "none")

	for what, cfg := range creds {
		if _, err := remote.Image(e.ref("app:v1"), e.ggcr(ctx, cfg)...); !denied(err) {
			t.Errorf("pull with %s after the removal: %v, want it refused", what, err)
		}
	}
	if status, _ := e.exchange(e.loginServer, dirToken); status != http.StatusUnauthorized {
		t.Errorf("exchange after the removal: %d", status)
	}
	// Basic credentials sent straight to /v2/ are refused too.
	if status, _ := e.call(http.MethodGet, e.loginServer, "/v2/app/manifests/v1", basicAuth(puller.appID, puller.secret), nil); status != http.StatusForbidden && status != http.StatusUnauthorized {
		t.Errorf("Basic credentials at /v2/ after the removal: %d", status)
	}
}

// TestTokenOfDeletedRegistryInAnotherTenant: registry names are free again
// once deleted, so another tenant can create a registry with the name of
// one deleted; an access token the deleted registry issued, even one
// already accepted there, is refused at the new one.
func TestTokenOfDeletedRegistryInAnotherTenant(t *testing.T) {
	t.Parallel()
	e := newIdentityEnv(t, "reusedname")
	p := e.principal("first-owner", "acrpush", "")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 512)
	e.pushAs(p, "app:v1", img)
	access, _ := e.registryToken(e.loginServer, p, "repository:app:pull")
	const manifest = "/v2/app/manifests/v1"
	if status, _ := e.call(http.MethodGet, e.loginServer, manifest, "Bearer "+access, nil); status != http.StatusOK {
		t.Fatalf("the token at its registry: %d", status)
	}
	e.run("acr", "delete", "-n", "reusedname", "--yes", "-o", "none")

	out, err := operator(t, e.s, "tenant", "create", "--domain", "reuse.example")
	var b struct{ TenantID, ClientID, ClientSecret string }
	if err != nil || json.Unmarshal([]byte(out), &b) != nil {
		t.Fatalf("tenant create: %v %s", err, out)
	}
	other := newCLI(t, t.TempDir())
	for _, args := range [][]string{
		{"login", "--service-principal", "-u", b.ClientID, "-p", b.ClientSecret, "--tenant", b.TenantID, "--server", e.s.URL, "--ca-file", e.s.CAFile, "-o", "none"},
		{"group", "create", "-n", "theirs", "-l", "westeurope", "-o", "none"},
		{"acr", "create", "-n", "reusedname", "-g", "theirs", "-o", "none"},
	} {
		if out, err := other.try(args...); err != nil {
			t.Fatalf("berth %s (tenant B): %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if err := remote.Write(e.ref("app:v1"), img, e.ggcr(t.Context(), authn.AuthConfig{Username: b.ClientID, Password: b.ClientSecret})...); err != nil {
		t.Fatalf("tenant B's push: %v", err)
	}
	status, hdr := e.call(http.MethodGet, e.loginServer, manifest, "Bearer "+access, nil)
	if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("the deleted registry's token at tenant B's registry of the same name: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
}
