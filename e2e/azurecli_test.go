package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// azureCLI is the cloud's own CLI (Debian's azure-cli package) in a
// throwaway configuration directory, with the exports of `berth env`.
type azureCLI struct {
	t   *testing.T
	bin string
	env []string
}

// newAzureCLI finds az; without it the test is skipped, or fails when
// BERTH_REQUIRE_TOOLS=1, as in CI, so that it cannot pass there by being
// skipped.
func newAzureCLI(t *testing.T, s *berthtest.Server, proxy string) azureCLI {
	t.Helper()
	bin, err := exec.LookPath("az")
	if err != nil {
		if os.Getenv("BERTH_REQUIRE_TOOLS") == "1" {
			t.Fatalf("az (the azure-cli package) is required (BERTH_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skip("az not installed")
	}
	out, err := exec.Command(berthtest.Binary(t), "env", "--data-dir", s.DataDir, "--proxy", proxy).Output()
	if err != nil {
		t.Fatalf("berth env: %v", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE":
			continue
		}
		if !strings.HasPrefix(k, "AZURE_") {
			env = append(env, kv)
		}
	}
	for k, v := range parseEnv(t, string(out)) {
		env = append(env, k+"="+v)
	}
	env = append(env, "AZURE_CONFIG_DIR="+t.TempDir(), "AZURE_CORE_COLLECT_TELEMETRY=no", "AZURE_CORE_ONLY_SHOW_ERRORS=true", "AZURE_CORE_NO_COLOR=true")
	return azureCLI{t: t, bin: bin, env: env}
}

func (a azureCLI) run(args ...string) string {
	a.t.Helper()
	cmd := exec.CommandContext(a.t.Context(), a.bin, args...)
	cmd.Env = a.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		a.t.Fatalf("az %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// login signs in with the bootstrap administrator's secret.
func (a azureCLI) login(s *berthtest.Server) {
	a.t.Helper()
	a.run("login", "--service-principal", "-u", s.Boot.ClientID, "--password="+s.Boot.ClientSecret, "--tenant", s.Boot.TenantID, "-o", "none")
}

// acrLogin runs acr login --expose-token and checks that what it printed
// lets a client pull from the registry at that login server.
func (a azureCLI) acrLogin(s *berthtest.Server, proxy, registry, loginServer string) {
	a.t.Helper()
	var got struct{ AccessToken, LoginServer string }
	if err := json.Unmarshal([]byte(a.run("acr", "login", "-n", registry, "--expose-token", "-o", "json")), &got); err != nil || got.LoginServer != loginServer {
		a.t.Fatalf("acr login --expose-token: %v %+v", err, got)
	}
	req, _ := http.NewRequest("GET", "https://"+got.LoginServer+"/v2/_catalog", nil)
	req.SetBasicAuth(nullUser, got.AccessToken)
	resp, err := proxiedClient(s, proxy).Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		a.t.Fatalf("catalog with acr login's token: %d", resp.StatusCode)
	}
}

// TestAzureCLIDefaultCloud: after `berth env`, the cloud's CLI with its
// own default cloud signs in to berth as a service principal, logs in to a
// registry, and runs the directory commands of the seed scenarios.
func TestAzureCLIDefaultCloud(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	az := newAzureCLI(t, s, proxy)
	az.login(s)
	if got := az.run("account", "show", "--query", "[environmentName, tenantId, id]", "-o", "tsv"); got != "AzureCloud\n"+s.Boot.TenantID+"\n"+s.Boot.SubscriptionID {
		t.Fatalf("account show: %q", got)
	}
	az.acrLogin(s, proxy, "default", "default.azurecr.io")

	app := az.run("ad", "sp", "create-for-rbac", "--name", "http://cli-sp", "--query", "appId", "-o", "tsv")
	if got := az.run("ad", "sp", "show", "--id", "http://cli-sp", "--query", "appId", "-o", "tsv"); app == "" || got != app {
		t.Fatalf("sp show by name: %q, created %q", got, app)
	}
	domain := az.run("rest", "--method", "get", "--url", "https://graph.microsoft.com/v1.0/domains", "--query", "value[?isDefault].id | [0]", "-o", "tsv")
	upn := "cli-user@" + domain
	az.run("ad", "user", "create", "--display-name", "CLI User", "--password", "A-long-Passw0rd!", "--user-principal-name", upn, "-o", "none")
	if got := az.run("ad", "user", "list", "--query", "[].userPrincipalName", "-o", "tsv"); !strings.Contains(got, upn) {
		t.Fatalf("user list: %q", got)
	}
}

// TestAzureCLICustomCloud: the CLI's cloud registration at berth's own
// address, with the trailing slash its own clouds show, reads berth's
// metadata; sign-in, acr login and the directory API work in that cloud.
// Sign-in still asks login.microsoftonline.com about the authority (the
// CLI's sign-in library does so for every unknown host), so the proxy is
// in the environment; everything else goes to berth's own address.
func TestAzureCLICustomCloud(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	az := newAzureCLI(t, s, proxy)
	base := s.URL + "/"
	az.run("cloud", "register", "-n", "berth", "--endpoint-resource-manager", base, "--suffix-acr-login-server-endpoint", "azurecr.io", "-o", "none")
	if got := az.run("cloud", "show", "-n", "berth", "--query", "endpoints.activeDirectory", "-o", "tsv"); got != base {
		t.Fatalf("registered cloud's sign-in endpoint: %q", got)
	}
	az.run("cloud", "update", "-n", "berth", "--cloud-config", `{"endpoints": {"microsoftGraphResourceId": "`+base+`"}}`, "-o", "none")
	az.run("cloud", "set", "-n", "berth", "-o", "none")
	az.login(s)
	if got := az.run("account", "show", "--query", "environmentName", "-o", "tsv"); got != "berth" {
		t.Fatalf("account show: %q", got)
	}
	az.acrLogin(s, proxy, "default", "default.azurecr.io")
	if got := az.run("ad", "sp", "list", "--query", "[?appId=='"+s.Boot.ClientID+"'].appId", "-o", "tsv"); got != s.Boot.ClientID {
		t.Fatalf("ad sp list: %q", got)
	}
	if got := az.run("rest", "--resource", base, "--url", base+"v1.0/organization", "--query", "value[0].id", "-o", "tsv"); got != s.Boot.TenantID {
		t.Fatalf("organization: %q", got)
	}
}

// push pushes a small image to repoTag through the proxy, with the token
// of acr login --expose-token, and returns the options that pull it.
func (a azureCLI) push(s *berthtest.Server, proxy, repoTag string) (name.Reference, []remote.Option) {
	a.t.Helper()
	ref, err := name.ParseReference(repoTag)
	if err != nil {
		a.t.Fatal(err)
	}
	token := a.run("acr", "login", "-n", strings.Split(ref.Context().RegistryStr(), ".")[0], "--expose-token", "--query", "accessToken", "-o", "tsv")
	opts := []remote.Option{remote.WithContext(a.t.Context()), remote.WithTransport(proxiedClient(s, proxy).Transport),
		remote.WithAuth(&authn.Basic{Username: nullUser, Password: token})}
	if err := remote.Write(ref, ociImage(a.t, v1.Platform{OS: "linux", Architecture: "amd64"}, 128), opts...); err != nil {
		a.t.Fatalf("push: %v", err)
	}
	return ref, opts
}

// TestAzureCLIReadLock: the CLI's `az acr repository update
// --read-enabled false` on an image makes berth refuse its pull, with the
// cloud's error, and shows the lock; enabling reads again lets it pull.
func TestAzureCLIReadLock(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	az := newAzureCLI(t, s, proxy)
	az.login(s)
	ref, opts := az.push(s, proxy, "default.azurecr.io/locked/app:v1")
	az.run("acr", "repository", "update", "-n", "default", "--image", "locked/app:v1", "--read-enabled", "false", "-o", "none")
	if got := az.run("acr", "repository", "show", "-n", "default", "--image", "locked/app:v1", "--query", "changeableAttributes.readEnabled", "-o", "tsv"); got != "false" {
		t.Fatalf("show --image: readEnabled %q", got)
	}
	if _, err := remote.Image(ref, opts...); err == nil || !strings.Contains(err.Error(), "REGISTRY_DISALLOWED_OPERATION") {
		t.Fatalf("pull of an image refusing reads: %v", err)
	}
	az.run("acr", "repository", "update", "-n", "default", "--image", "locked/app:v1", "--read-enabled", "true", "-o", "none")
	if _, err := remote.Image(ref, opts...); err != nil {
		t.Fatalf("pull after reads are enabled again: %v", err)
	}
}

// tunnelCounter is an HTTP CONNECT proxy between the CLI and berth's
// proxy that counts the tunnels asked for each host. It sees nothing
// inside a tunnel (TLS runs end to end), but a command that opens no
// tunnel to a host sent that host nothing.
type tunnelCounter struct {
	addr  string
	mu    sync.Mutex
	hosts map[string]int
}

func startTunnelCounter(t *testing.T, upstream string) *tunnelCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tc := &tunnelCounter{addr: ln.Addr().String(), hosts: map[string]int{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go tc.tunnel(c, upstream)
		}
	}()
	return tc
}

func (tc *tunnelCounter) tunnel(c net.Conn, upstream string) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	host, _, _ := net.SplitHostPort(req.Host)
	tc.mu.Lock()
	tc.hosts[host]++
	tc.mu.Unlock()
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer up.Close()
	if _, err := io.WriteString(up, "CONNECT "+req.Host+" HTTP/1.1\r\nHost: "+req.Host+"\r\n\r\n"); err != nil {
		return
	}
	go io.Copy(up, br)
	io.Copy(c, up)
}

// take returns the tunnels asked for host since the last take.
func (tc *tunnelCounter) take(host string) int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	n := tc.hosts[host]
	delete(tc.hosts, host)
	return n
}

// TestAzureCLIRoleSteps: Debian's azure-cli 2.45 crashes inside the CLI in
// `az role assignment create|list` and in `az ad sp create-for-rbac
// --role`, with either profile: its packaged authorization SDK does not
// fit the CLI. A counting proxy shows that none of them opens a
// connection to the management API, and berth holds no assignment after
// them; `az rest` does each step against berth instead.
func TestAzureCLIRoleSteps(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	counter := startTunnelCounter(t, proxy)
	az := newAzureCLI(t, s, counter.addr)
	az.login(s)
	az.run("group", "create", "-n", "apps", "-l", "westeurope", "-o", "none")
	const management = "management.azure.com"
	scope := "/subscriptions/" + s.Boot.SubscriptionID + "/resourceGroups/apps"
	assignments := "https://" + management + scope + "/providers/Microsoft.Authorization/roleAssignments"
	crashes := func(args ...string) {
		t.Helper()
		counter.take(management)
		out := az.runFailing(args...)
		if !strings.Contains(out, "AttributeError") || !strings.Contains(out, "object has no attribute 'config'") {
			t.Fatalf("az %s: not the packaged CLI's known failure:\n%s", strings.Join(args, " "), out)
		}
		if n := counter.take(management); n != 0 {
			t.Fatalf("az %s: %d connections to the management API", strings.Join(args, " "), n)
		}
	}
	assigned := func(principal string) string {
		t.Helper()
		return az.run("rest", "--url", assignments+"?api-version=2022-04-01&$filter=atScope()",
			"--query", "value[?properties.principalId=='"+principal+"'].properties.roleDefinitionId | join(',', @)", "-o", "tsv")
	}

	crashes("ad", "sp", "create-for-rbac", "--name", "http://rbac-sp", "--role", "AcrPull", "--scopes", scope)
	// The directory part ran before the crash: the service principal
	// exists, with no role.
	principal := az.run("ad", "sp", "show", "--id", "http://rbac-sp", "--query", "id", "-o", "tsv")
	crashes("role", "assignment", "create", "--assignee-object-id", principal, "--assignee-principal-type", "ServicePrincipal", "--role", "AcrPull", "--scope", scope)
	crashes("role", "assignment", "list", "--scope", scope)
	az.run("cloud", "update", "--profile", "2020-09-01-hybrid", "-o", "none")
	az.login(s)
	crashes("role", "assignment", "list", "--scope", scope)
	az.run("cloud", "update", "--profile", "latest", "-o", "none")
	az.login(s)
	if got := assigned(principal); got != "" {
		t.Fatalf("assignments after the crashes: %q", got)
	}

	// The same steps with az rest.
	acrPull := "/subscriptions/" + s.Boot.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + authz.AcrPull
	az.run("rest", "--method", "put", "--url", assignments+"/"+ids.New()+"?api-version=2022-04-01",
		"--body", `{"properties": {"roleDefinitionId": "`+acrPull+`", "principalId": "`+principal+`", "principalType": "ServicePrincipal"}}`, "-o", "none")
	if n := counter.take(management); n == 0 {
		t.Fatal("az rest opened no connection to the management API through the counting proxy")
	}
	if got := assigned(principal); got != acrPull {
		t.Fatalf("assignments after az rest: %q, want AcrPull", got)
	}
}
