package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

const nullUser = "00000000-0000-0000-0000-000000000000"

// loginServerTransport reaches login servers (*.cr.localhost) at the
// test server's address, as a machine with a DNS record for them would.
func loginServerTransport(s *berthtest.Server) *http.Transport {
	t := berthTransport(s)
	d := &net.Dialer{Timeout: 10 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h, _, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(h, ".cr.localhost") {
			addr = s.Host
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// registryAddress is how docker clients name the default registry of s.
func registryAddress(s *berthtest.Server) string {
	_, port, _ := net.SplitHostPort(s.Host)
	return "default.cr.localhost:" + port
}

// pushPull pushes a new image to repo with auth and pulls it back.
func pushPull(t *testing.T, s *berthtest.Server, auth authn.Authenticator, repo string) error {
	t.Helper()
	ref, err := name.ParseReference(registryAddress(s) + "/" + repo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithContext(t.Context()), remote.WithTransport(loginServerTransport(s)), remote.WithAuth(auth)}
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 512)
	if err := remote.Write(ref, img, opts...); err != nil {
		return err
	}
	got, err := remote.Image(ref, opts...)
	if err != nil {
		return err
	}
	sameImage(t, "pulled "+repo, img, got)
	return nil
}

func pull(t *testing.T, s *berthtest.Server, auth authn.Authenticator, repo string) error {
	t.Helper()
	ref, _ := name.ParseReference(registryAddress(s) + "/" + repo + ":v1")
	_, err := remote.Image(ref, remote.WithContext(t.Context()), remote.WithTransport(loginServerTransport(s)), remote.WithAuth(auth))
	return err
}

// TestACRLogin: acr login's docker configuration entry, its exposed token
// and docker-credential-berth's tokens each push and pull with
// go-containerregistry at the login server.
func TestACRLogin(t *testing.T) {
	s := startBerth(t)
	admin := adminCLI(t, s)
	addr := registryAddress(s)
	docker := t.TempDir()
	configPath := filepath.Join(docker, "config.json")
	if err := os.WriteFile(configPath, []byte(`{"psFormat":"table {{.ID}}","auths":{"other.example":{"auth":"eDp5"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	withDocker := admin
	withDocker.env = []string{"DOCKER_CONFIG=" + docker}
	out, code := withDocker.status("acr", "login", "--name", "default")
	if code != 0 || strings.TrimSpace(out) != "Login Succeeded" {
		t.Fatalf("acr login: %d %s", code, out)
	}
	fi, err := os.Stat(configPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("docker config mode %v (%v)", fi.Mode().Perm(), err)
	}
	var cfg struct {
		PsFormat string                       `json:"psFormat"`
		Auths    map[string]map[string]string `json:"auths"`
	}
	written, _ := os.ReadFile(configPath)
	if err := json.Unmarshal(written, &cfg); err != nil {
		t.Fatal(err)
	}
	entry := cfg.Auths[addr]
	if cfg.PsFormat != "table {{.ID}}" || cfg.Auths["other.example"]["auth"] != "eDp5" ||
		entry["auth"] != base64.StdEncoding.EncodeToString([]byte(nullUser+":")) || strings.Count(entry["identitytoken"], ".") != 2 {
		t.Fatalf("docker config after acr login: %s", written)
	}
	if err := pushPull(t, s, authn.FromConfig(authn.AuthConfig{IdentityToken: entry["identitytoken"]}), "acr/login"); err != nil {
		t.Fatalf("with acr login's identity token: %v", err)
	}

	out, code = withDocker.status("acr", "login", "-n", "default", "--expose-token")
	var exposed struct{ AccessToken, LoginServer string }
	if code != 0 || json.Unmarshal([]byte(out), &exposed) != nil || exposed.LoginServer != "default.cr.localhost" || exposed.AccessToken == "" {
		t.Fatalf("acr login --expose-token: %d %s", code, out)
	}
	if after, _ := os.ReadFile(configPath); !bytes.Equal(after, written) {
		t.Fatal("acr login --expose-token wrote the docker configuration")
	}
	if err := pull(t, s, authn.FromConfig(authn.AuthConfig{IdentityToken: exposed.AccessToken}), "acr/login"); err != nil {
		t.Fatalf("with the exposed token: %v", err)
	}

	// The credential helper needs no acr login: a fresh docker
	// configuration directory, which it must leave empty.
	helperDocker := t.TempDir()
	helper := func(stdin string, args ...string) (string, int) {
		t.Helper()
		c := admin
		c.env, c.stdin, c.as = []string{"DOCKER_CONFIG=" + helperDocker}, stdin, "docker-credential-berth"
		return c.status(args...)
	}
	for _, server := range []string{addr, "https://" + addr, "https://" + addr + "/v2/"} {
		out, code = helper(server+"\n", "get")
		var c struct{ ServerURL, Username, Secret string }
		if code != 0 || json.Unmarshal([]byte(out), &c) != nil || c.ServerURL != server || c.Username != nullUser || c.Secret == "" {
			t.Fatalf("get %s: %d %s", server, code, out)
		}
		if err := pull(t, s, authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Secret}), "acr/login"); err != nil {
			t.Fatalf("with the helper's secret for %s: %v", server, err)
		}
	}
	for _, other := range []string{"registry.example.com", "default.cr.localhost", "absent.cr.localhost:" + strings.Split(addr, ":")[1]} {
		if out, code = helper(other, "get"); code != 1 || strings.TrimSpace(out) != "credentials not found in native keychain" {
			t.Fatalf("get %s: %d %s", other, code, out)
		}
	}
	out, code = helper("", "list")
	var listed map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[addr] != nullUser {
		t.Fatalf("list: %d %s", code, out)
	}
	if out, code = helper(`{"ServerURL":"`+addr+`","Username":"u","Secret":"s"}`, "store"); code != 0 || out != "" {
		t.Fatalf("store: %d %s", code, out)
	}
	if out, code = helper(addr, "erase"); code != 0 || out != "" {
		t.Fatalf("erase: %d %s", code, out)
	}
	if left, _ := os.ReadDir(helperDocker); len(left) != 0 {
		t.Fatalf("the helper wrote %v", left)
	}
}

// TestACRAdminCredentials: the admin user's passwords, renewed through
// the management API, are Basic credentials at the registry while the
// admin user is enabled, and so is the pull secret made of them.
func TestACRAdminCredentials(t *testing.T) {
	s := startBerth(t)
	owner := adminCLI(t, s)
	run := owner.run
	if out, err := owner.try("acr", "credential", "show", "--name", "default"); err == nil || !strings.Contains(out, "UnAuthorizedForCredentialOperations") {
		t.Fatalf("credential show with the admin user disabled: %v %s", err, out)
	}
	if got := run("acr", "update", "--name", "default", "--admin-enabled", "true", "--query", "adminUserEnabled", "-o", "tsv"); got != "True" {
		t.Fatalf("acr update: %s", got)
	}
	if got := run("acr", "credential", "show", "-n", "default", "-o", "tsv", "--query", "[username, passwords[1].name, passwords[0].value == null, passwords[1].value == null]"); got != "default\npassword2\nTrue\nTrue" {
		t.Fatalf("credential show: %q", got)
	}
	first := run("acr", "credential", "renew", "-n", "default", "--password-name", "password", "--query", "passwords[0].value", "-o", "tsv")
	second := run("acr", "credential", "renew", "-n", "default", "--password-name", "password2", "--query", "passwords[1].value", "-o", "tsv")
	if len(first) != 43 || len(second) != 43 || first == second {
		t.Fatalf("renewed passwords %d %d characters", len(first), len(second))
	}
	admin := func(pass string) authn.Authenticator {
		return authn.FromConfig(authn.AuthConfig{Username: "default", Password: pass})
	}
	if err := pushPull(t, s, admin(first), "acr/admin"); err != nil {
		t.Fatalf("the admin user's first password: %v", err)
	}
	if err := pull(t, s, admin(second), "acr/admin"); err != nil {
		t.Fatalf("the admin user's second password: %v", err)
	}
	if err := pull(t, s, admin(first+"x"), "acr/admin"); err == nil {
		t.Fatal("a wrong password pulled")
	}

	// The pull secret made of the admin user's credentials pulls.
	out := run("acr", "pull-secret", "--name", "default", "-u", "default", "-p", second, "--secret-name", "pull", "--namespace", "apps", "-o", "json")
	var sec corev1.Secret
	if err := json.Unmarshal([]byte(out), &sec); err != nil || sec.Type != corev1.SecretTypeDockerConfigJson || sec.Name != "pull" || sec.Namespace != "apps" {
		t.Fatalf("pull secret: %v %+v", err, sec)
	}
	var dcj struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(sec.Data[corev1.DockerConfigJsonKey], &dcj); err != nil || len(dcj.Auths) != 1 {
		t.Fatalf("dockerconfigjson: %v %s", err, sec.Data[corev1.DockerConfigJsonKey])
	}
	ac, ok := dcj.Auths[registryAddress(s)]
	if !ok {
		t.Fatalf("the pull secret is for %v, not %s", dcj.Auths, registryAddress(s))
	}
	if err := pull(t, s, authn.FromConfig(authn.AuthConfig{Auth: ac.Auth}), "acr/admin"); err != nil {
		t.Fatalf("with the pull secret's auth: %v", err)
	}

	// Renewing one password leaves the other working.
	run("acr", "credential", "renew", "-n", "default", "--password-name", "password", "-o", "none")
	if err := pull(t, s, admin(second), "acr/admin"); err != nil {
		t.Fatalf("password2 after renewing password: %v", err)
	}

	run("acr", "update", "--name", "default", "--admin-enabled", "false", "-o", "none")
	if err := pull(t, s, admin(second), "acr/admin"); err == nil {
		t.Fatal("the admin user pulled after it was disabled")
	}
	if got := run("acr", "show", "--name", "default", "--query", "adminUserEnabled", "-o", "tsv"); got != "False" {
		t.Fatalf("adminUserEnabled after update: %s", got)
	}
}
