package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

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

// TestAzureCLIReadLock: the CLI's `az acr repository update
// --read-enabled false` on an image makes berth refuse its pull, with the
// cloud's error, and shows the lock; enabling reads again lets it pull.
func TestAzureCLIReadLock(t *testing.T) {
	s, proxy := startCloudHostnames(t)
	az := newAzureCLI(t, s, proxy)
	az.login(s)
	token := az.run("acr", "login", "-n", "default", "--expose-token", "--query", "accessToken", "-o", "tsv")
	ref, err := name.ParseReference("default.azurecr.io/locked/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithContext(t.Context()), remote.WithTransport(proxiedClient(s, proxy).Transport),
		remote.WithAuth(&authn.Basic{Username: nullUser, Password: token})}
	if err := remote.Write(ref, ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 128), opts...); err != nil {
		t.Fatalf("push: %v", err)
	}
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
