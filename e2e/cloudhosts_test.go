package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// startCloudHostnames starts berth serve --cloud-hostnames and returns it
// with its proxy's address, which berth chose and printed: a port found
// free beforehand can be taken by another test's server before berth
// binds it.
func startCloudHostnames(t *testing.T) (*berthtest.Server, string) {
	t.Helper()
	s := startBerth(t, "--cloud-hostnames", "--proxy-listen", "127.0.0.1:0")
	const marker = "through berth's proxy at http://"
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := s.Out.String()
		if _, rest, ok := strings.Cut(out, marker); ok {
			if addr, _, ok := strings.Cut(rest, " "); ok {
				return s, addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("berth serve printed no proxy address:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proxiedClient reaches everything through berth's proxy, trusting only
// berth's CA, as a shell after `berth env` does.
func proxiedClient(s *berthtest.Server, proxy string) *http.Client {
	t := berthTransport(s)
	t.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: proxy})
	return &http.Client{Transport: t}
}

// connect sends a raw CONNECT to the proxy and returns its status line.
func connect(t *testing.T, proxy, target string) string {
	t.Helper()
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	return strings.TrimSpace(line)
}

// scopedToken runs a v2 client credentials grant at tokenURL.
func scopedToken(t *testing.T, c *http.Client, tokenURL, clientID, secret, scope string) string {
	t.Helper()
	resp, err := c.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); resp.StatusCode != 200 || err != nil || body.AccessToken == "" {
		t.Fatalf("token from %s for %s: %d %s", tokenURL, scope, resp.StatusCode, b)
	}
	return body.AccessToken
}

func getWith(t *testing.T, c *http.Client, u, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// TestCloudHostnames: through berth's proxy, the public cloud's sign-in,
// management, directory API and registry hosts are berth, under its
// certificate; the directory API names the tenant's domain.
func TestCloudHostnames(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	c := proxiedClient(s, proxy)

	var meta []map[string]any
	if st := getWith(t, c, "https://management.azure.com/metadata/endpoints?api-version=2019-05-01", "", &meta); st != 200 ||
		meta[0]["microsoftGraphResourceId"] != "https://graph.microsoft.com/" || meta[0]["suffixes"].(map[string]any)["acrLoginServer"] != "azurecr.io" {
		t.Fatalf("endpoints: %d %v", st, meta)
	}
	tokenURL := "https://login.microsoftonline.com/" + s.Boot.TenantID + "/oauth2/v2.0/token"
	mgmt := scopedToken(t, c, tokenURL, s.Boot.ClientID, s.Boot.ClientSecret, "https://management.core.windows.net//.default")
	var reg map[string]any
	regURL := "https://management.azure.com/subscriptions/" + s.Boot.SubscriptionID + "/resourceGroups/berth/providers/Microsoft.ContainerRegistry/registries/default?api-version=2023-07-01"
	if st := getWith(t, c, regURL, mgmt, &reg); st != 200 || reg["properties"].(map[string]any)["loginServer"] != "default.azurecr.io" {
		t.Fatalf("registry: %d %v", st, reg)
	}
	if s.Boot.LoginServer != "default.azurecr.io" {
		t.Fatalf("bootstrap login server %q", s.Boot.LoginServer)
	}

	graph := scopedToken(t, c, tokenURL, s.Boot.ClientID, s.Boot.ClientSecret, "https://graph.microsoft.com/.default")
	var domains struct {
		Value []struct {
			ID                   string
			IsDefault, IsInitial bool
		}
	}
	if st := getWith(t, c, "https://graph.microsoft.com/v1.0/domains", graph, &domains); st != 200 || len(domains.Value) != 1 ||
		!strings.HasSuffix(domains.Value[0].ID, ".berth.localhost") || !domains.Value[0].IsDefault || !domains.Value[0].IsInitial {
		t.Fatalf("domains: %d %+v", st, domains)
	}
	var org struct {
		Value []struct {
			ID              string
			VerifiedDomains []struct{ Name string }
		}
	}
	if st := getWith(t, c, "https://graph.microsoft.com/v1.0/organization", graph, &org); st != 200 || len(org.Value) != 1 ||
		org.Value[0].ID != s.Boot.TenantID || org.Value[0].VerifiedDomains[0].Name != domains.Value[0].ID {
		t.Fatalf("organization: %d %+v", st, org)
	}
	var one map[string]any
	if st := getWith(t, c, "https://graph.microsoft.com/v1.0/domains/"+strings.ToUpper(domains.Value[0].ID), graph, &one); st != 200 || one["id"] != domains.Value[0].ID {
		t.Fatalf("one domain: %d %v", st, one)
	}
	if st := getWith(t, c, "https://graph.microsoft.com/v1.0/domains/example.com", graph, nil); st != 404 {
		t.Fatalf("another domain: %d", st)
	}
	var me struct {
		Error struct{ Code, Message string }
	}
	if st := getWith(t, c, "https://graph.microsoft.com/v1.0/me", graph, &me); st != 400 || !strings.Contains(me.Error.Message, "delegated") {
		t.Fatalf("/me with an application's token: %d %+v", st, me)
	}
	if st := getWith(t, c, "https://graph.microsoft.com/v1.0/organization", "", nil); st != 401 {
		t.Fatalf("organization without a token: %d", st)
	}

	// The registry at its cloud name: its challenge names it.
	resp, err := c.Get("https://default.azurecr.io/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(ch, `service="default.azurecr.io"`) {
		t.Fatalf("registry challenge: %d %s", resp.StatusCode, ch)
	}
}

// TestCloudProxyRefuses: berth's proxy is no open proxy: it tunnels only
// the names berth answers for, on 443, and nothing but CONNECT.
func TestCloudProxyRefuses(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	for _, target := range []string{"example.com:443", "management.azure.com:80", "login.microsoftonline.com:22",
		"a.b.azurecr.io:443", "azurecr.io:443", s.Host, "127.0.0.1:443", "evil.com.graph.microsoft.com:443"} {
		if got := connect(t, proxy, target); !strings.HasPrefix(got, "HTTP/1.1 403") {
			t.Errorf("CONNECT %s: %s", target, got)
		}
	}
	for _, target := range []string{"management.azure.com:443", "MyRegistry.azurecr.io:443"} {
		if got := connect(t, proxy, target); got != "HTTP/1.1 200 Connection established" {
			t.Errorf("CONNECT %s: %s", target, got)
		}
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxy})}}).Get("http://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 405 || !strings.Contains(string(body), "CONNECT") {
		t.Fatalf("plain HTTP through the proxy: %d %s", resp.StatusCode, body)
	}
	// Another destination gets a clear answer through a client too.
	_, err = proxiedClient(s, proxy).Get("https://example.com/")
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("client to example.com through the proxy: %v", err)
	}
}

// TestBerthEnv: berth env prints exports a shell evaluates, naming the
// proxy and berth's CA by absolute path.
func TestBerthEnv(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command(berthtest.Binary(t), "env", "--data-dir", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "ca.crt does not exist") {
		t.Fatalf("berth env before the server made its CA: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(berthtest.Binary(t), "env", "--data-dir", dir, "--proxy", "127.0.0.1:9").Output()
	if err != nil {
		t.Fatal(err)
	}
	env := parseEnv(t, string(out))
	ca := filepath.Join(dir, "ca.crt")
	for k, v := range map[string]string{"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca, "CURL_CA_BUNDLE": ca} {
		if env[k] != v {
			t.Errorf("%s=%q, want %q in:\n%s", k, env[k], v, out)
		}
	}
	if !strings.Contains(env["NO_PROXY"], "127.0.0.1") {
		t.Errorf("NO_PROXY=%q", env["NO_PROXY"])
	}
	if _, err := exec.Command(berthtest.Binary(t), "env", "--data-dir", dir, "--proxy", "nonsense").Output(); err == nil {
		t.Fatal("berth env took --proxy nonsense")
	}
}

// parseEnv reads berth env's `export K='V'` lines; berth's paths here
// hold no quotes.
func parseEnv(t *testing.T, out string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			t.Fatalf("not an export: %q", line)
		}
		env[k] = v[1 : len(v)-1]
	}
	return env
}

// TestCustomCloudEndpoints: what a cloud registered at berth's own address
// needs: the metadata at the path the CLI joins, the directory API's
// resource named by that address, and instance discovery for an authority
// whose port the CLI's sign-in library dropped.
func TestCustomCloudEndpoints(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	var meta map[string]any
	if st := getWith(t, s.Client(), s.URL+"//metadata/endpoints?api-version=2015-01-01", "", &meta); st != 200 ||
		meta["authentication"].(map[string]any)["loginEndpoint"] != s.URL+"/" {
		t.Fatalf("//metadata/endpoints: %d %v", st, meta)
	}
	var list []map[string]any
	getWith(t, s.Client(), s.URL+"/metadata/endpoints?api-version=2019-05-01", "", &list)
	graphResource := list[0]["microsoftGraphResourceId"].(string)
	if graphResource != s.URL+"/" {
		t.Fatalf("microsoftGraphResourceId %q", graphResource)
	}
	tok := scopedToken(t, s.Client(), s.URL+"/"+s.Boot.TenantID+"/oauth2/v2.0/token", s.Boot.ClientID, s.Boot.ClientSecret, graphResource+".default")
	var org struct{ Value []struct{ ID string } }
	if st := getWith(t, s.Client(), graphResource+"v1.0/organization", tok, &org); st != 200 || org.Value[0].ID != s.Boot.TenantID {
		t.Fatalf("organization with the advertised resource: %d %+v", st, org)
	}
	// The advertised resource is the address the client reached berth at,
	// not any address.
	resp, err := s.Client().PostForm(s.URL+"/"+s.Boot.TenantID+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {s.Boot.ClientID}, "client_secret": {s.Boot.ClientSecret}, "resource": {"https://elsewhere.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "AADSTS500011") {
		t.Fatalf("token for another host: %d %s", resp.StatusCode, b)
	}

	// MSAL asks the cloud's sign-in host about berth's authority, without
	// its port.
	_, port, _ := net.SplitHostPort(s.Host)
	var inst map[string]any
	q := url.QueryEscape("https://127.0.0.1/" + s.Boot.TenantID + "/oauth2/v2.0/authorize")
	if st := getWith(t, proxiedClient(s, proxy), "https://login.microsoftonline.com/common/discovery/instance?api-version=1.1&authorization_endpoint="+q, "", &inst); st != 200 ||
		inst["tenant_discovery_endpoint"] != "https://127.0.0.1:"+port+"/"+s.Boot.TenantID+"/v2.0/.well-known/openid-configuration" {
		t.Fatalf("instance discovery: %d %v", st, inst)
	}
	q = url.QueryEscape("https://elsewhere.example/" + s.Boot.TenantID + "/oauth2/v2.0/authorize")
	if st := getWith(t, proxiedClient(s, proxy), "https://login.microsoftonline.com/common/discovery/instance?api-version=1.1&authorization_endpoint="+q, "", nil); st == 200 {
		t.Fatal("instance discovery answered for another host")
	}
}

// TestLoginServerPort: --login-server-port puts berth's port into login
// servers, for clients without the proxy; bad combinations are refused.
func TestLoginServerPort(t *testing.T) {
	s := startBerth(t, "--login-server-port", "8443")
	if s.Boot.LoginServer != "default.cr.localhost:8443" {
		t.Fatalf("bootstrap login server %q", s.Boot.LoginServer)
	}
	admin := adminCLI(t, s)
	if got := admin.run("acr", "show", "-n", "default", "--query", "loginServer", "-o", "tsv"); got != "default.cr.localhost:8443" {
		t.Fatalf("acr show: %q", got)
	}
	for _, args := range [][]string{
		{"--login-server-port", "http"},
		{"--cloud-hostnames", "--registry-suffix", "cr.example"},
		{"--cloud-hostnames", "--login-server-port", "8443"},
		{"--cloud-hostnames", "--proxy-listen", "nonsense"},
	} {
		out, err := exec.Command(berthtest.Binary(t), append([]string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), args[len(args)-2]) {
			t.Errorf("serve %v: %v %s", args, err, out)
		}
	}
}
