package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestAzureCLIPodmanLogin: `az acr login` without --expose-token runs
// `docker login`; with podman answering as docker (what Debian's
// podman-docker package does), the CLI's login stores berth's registry
// token in podman's auth file, and podman pulls an image pushed to berth
// with it, through berth's proxy. Podman gets its own storage (vfs, which
// needs no kernel overlay support) and runs no container, so it needs no
// daemon and no cgroup; CI runs it as root.
func TestAzureCLIPodmanLogin(t *testing.T) {
	bin, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("BERTH_REQUIRE_TOOLS") == "1" {
			t.Fatalf("podman is required (BERTH_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skip("podman not installed")
	}
	s, proxy := startCloudHostnames(t)
	az := newAzureCLI(t, s, proxy)
	az.login(s)
	ref, opts := az.push(s, proxy, "default.azurecr.io/podman/app:v1")
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shim := filepath.Join(dir, "bin")
	if err := os.Mkdir(shim, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(shim, "docker")); err != nil {
		t.Fatal(err)
	}
	authFile := filepath.Join(dir, "auth.json")
	env := []string{
		"CONTAINERS_STORAGE_CONF=" + write("storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \""+filepath.Join(dir, "graph")+"\"\nrunroot = \""+filepath.Join(dir, "run")+"\"\n"),
		"CONTAINERS_CONF=" + write("containers.conf", "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \""+filepath.Join(dir, "events.log")+"\"\n"),
		"CONTAINERS_REGISTRIES_CONF=" + write("registries.conf", ""),
		"REGISTRY_AUTH_FILE=" + authFile,
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "xdg"),
		"TMPDIR=" + t.TempDir(),
	}
	for _, kv := range az.env {
		if k, v, _ := strings.Cut(kv, "="); k == "PATH" {
			env = append(env, "PATH="+shim+string(os.PathListSeparator)+v)
		} else if k != "TMPDIR" && k != "XDG_RUNTIME_DIR" {
			env = append(env, kv)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "xdg"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Without a policy podman refuses to pull anything, and
	// /etc/containers/policy.json may be absent.
	policy := write("policy.json", `{"default":[{"type":"insecureAcceptAnything"}]}`)

	withPodman := azureCLI{t: t, bin: az.bin, env: env}
	withPodman.run("acr", "login", "-n", "default")
	var auth struct{ Auths map[string]json.RawMessage }
	if b, err := os.ReadFile(authFile); err != nil || json.Unmarshal(b, &auth) != nil || auth.Auths["default.azurecr.io"] == nil {
		t.Fatalf("podman's auth file after az acr login: %s %v", b, err)
	}

	pull := exec.CommandContext(t.Context(), bin, "pull", "-q", "--signature-policy", policy, ref.String())
	pull.Env = env
	out, err := pull.CombinedOutput()
	if err != nil {
		t.Fatalf("podman pull: %v\n%s", err, out)
	}
	inspect := exec.CommandContext(t.Context(), bin, "image", "inspect", "--format", "{{.Digest}}", ref.String())
	inspect.Env = env
	got, err := inspect.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != desc.Digest.String() {
		t.Fatalf("podman image inspect: %s %v, pushed %s", got, err, desc.Digest)
	}
}
