package imds

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// netnsEnv tells a re-executed test binary it runs inside the network
// namespace the outer test made.
const netnsEnv = "BERTH_IMDS_NETNS"

// TestMetadataAddressInNamespace: in a network namespace where
// 169.254.169.254 is a local address and nothing routes out, berth serve,
// berth imds on its default address, and unmodified SDK clients (the
// test binary, re-executed inside) get the machine's tokens at the
// metadata endpoint's real address and pull with them.
func TestMetadataAddressInNamespace(t *testing.T) {
	if os.Getenv(netnsEnv) != "" {
		insideNamespace(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace (ip netns add) needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("creating a network namespace needs the ip command (iproute2)")
	}
	bin := berthtest.Binary(t)
	ns := fmt.Sprintf("berth-imds-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "addr", "add", "169.254.169.254/32", "dev", "lo")

	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run", "^TestMetadataAddressInNamespace$", "-test.v", "-test.count=1")
	cmd.Env = append(clientEnv(), netnsEnv+"="+ns, "BERTH_BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestMetadataAddressInNamespace") {
		t.Fatalf("inside the namespace: %v\n%s", err, out)
	}
}

// clientEnv is this process's environment without what would send the
// SDK elsewhere than the metadata address: the other managed identity
// sources and proxies.
func clientEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
			"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func insideNamespace(t *testing.T) {
	if local, err := isLocal(DefaultAddress); !local {
		t.Fatalf("169.254.169.254 is not local in the namespace: %v", err)
	}
	s := berthtest.Start(t)
	w := newWorld(t, s)
	web := w.identity("web")
	vm, system := w.vm("netvm", `{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+web.ID+`":{}}}`)
	path := filepath.Join(t.TempDir(), "credential.json")
	if err := w.credential(vm).Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", fi.Mode(), err)
	}
	w.push("app")
	w.grantPull(system, "5b0c6e8e-0000-4000-8000-000000000002")

	addr, agentLog := startAgent(t, nil, "imds", "--vm", vm, "--credential", path, "--log-level", "debug")
	if addr != "http://169.254.169.254:80" {
		t.Fatalf("serving at %s, want the metadata address", addr)
	}

	// The Go SDK's probe: no query, no header; any answer will do.
	if r := get(t, "http://169.254.169.254"+TokenPath, nil); r.status != 400 {
		t.Fatalf("probe: %d %s", r.status, r.raw)
	}
	if r := get(t, "http://169.254.169.254"+InstancePath+"/compute?api-version=2021-02-01", metadata); r.status != 200 || r.body["name"] != "netvm" {
		t.Fatalf("instance metadata: %d %s", r.status, r.raw)
	}
	system1, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, w, system1, system, vm)
	byClient, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(web.ClientID)})
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, w, byClient, web.PrincipalID, web.ID)
	byResource, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ResourceID(web.ID)})
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, w, byResource, web.PrincipalID, web.ID)
	// The default credential chain finds the endpoint by its probe.
	chain, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, w, chain, system, vm)

	if m, err := pullManifest(t, s, system1, "app", "v1", policy.RetryOptions{}); err != nil || !strings.Contains(string(m), `"schemaVersion":2`) {
		t.Fatalf("pull with the system identity: %v %s", err, m)
	}

	// The pod identity demo (berth demo pod-identity) does its four steps
	// through the metadata address; the identity it names may read the
	// group's machines.
	w.arm("PUT", w.group+"/providers/Microsoft.Authorization/roleAssignments/5b0c6e8e-0000-4000-8000-000000000003",
		`{"properties":{"roleDefinitionId":"/subscriptions/`+s.Boot.SubscriptionID+`/providers/Microsoft.Authorization/roleDefinitions/`+vmContributorRoleDef+
			`","principalId":"`+web.PrincipalID+`","principalType":"ServicePrincipal"}}`)
	demo := exec.Command(berthtest.Binary(t), "demo", "pod-identity", "--once", "--subscriptionid="+s.Boot.SubscriptionID,
		"--clientid="+web.ClientID, "--resourcegroup=machines", "--management-endpoint", s.URL, "--ca-file", s.CAFile)
	out, err := demo.CombinedOutput()
	if err != nil {
		t.Fatalf("berth demo pod-identity: %v\n%s", err, out)
	}
	for _, line := range []string{
		"successfully doARMOperations vm count 1\n",
		"successfully acquired a token using the MSI, msiEndpoint(http://169.254.169.254/metadata/identity/oauth2/token)\n",
		"successfully acquired a token, userAssignedID MSI, msiEndpoint(http://169.254.169.254/metadata/identity/oauth2/token) clientID(" + web.ClientID + ")\n",
		"successfully made GET on instance metadata\n",
	} {
		if !strings.Contains(string(out), line) {
			t.Errorf("the demo's log has no %q:\n%s", line, out)
		}
	}

	logged := agentLog()
	if !strings.Contains(logged, "token issued") {
		t.Fatalf("the agent's debug log has no issued tokens:\n%s", logged)
	}
	// Tokens are JWTs (eyJ...), the key is PEM: neither may be logged.
	if strings.Contains(logged, "eyJ") || strings.Contains(logged, "PRIVATE KEY") {
		t.Fatalf("the agent logged a token or its key:\n%s", logged)
	}
}

// startAgent runs berth imds until the test ends and returns its address
// and a function reading its log so far.
func startAgent(t *testing.T, env []string, args ...string) (string, func() string) {
	t.Helper()
	cmd := exec.Command(berthtest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.CreateTemp(t.TempDir(), "agent-log-")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	readLog := func() string {
		b, _ := os.ReadFile(logFile.Name())
		return string(b)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "berth imds is serving at "); ok {
				ready <- addr
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case addr := <-ready:
		return addr, readLog
	case <-done:
		t.Fatalf("berth imds exited:\n%s", readLog())
	case <-time.After(30 * time.Second):
		t.Fatalf("berth imds not serving after 30s:\n%s", readLog())
	}
	panic("unreachable")
}
