package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/berthhq/berth/internal/testutil/kubetest"
)

// TestScenarios runs the scripts in testdata/scenarios against one real
// berth serve. Each script starts logged in as the bootstrap administrator
// (its own configuration directory, $BERTH_CONFIG_DIR), with `berth` the
// real CLI binary, `capture VAR` standing in for the shell's
// VAR=$(command) (it sets VAR to the previous command's trimmed stdout),
// `image` a container client (see imageCommand), `imds start VM_ID FILE`
// the machine's metadata agent (see imdsCommand), `tenant create PREFIX
// DOMAIN` another tenant (see tenantCommand), `browser consent URL USER
// PASSWORD` a person consenting in Chromium (see browserCommand), `kube`
// a real Kubernetes API server for kubectl (see kubeCommand), `kubelet
// pull CONFIG REF` the kubelet's credential provider code pulling (see
// kubeletCommand), the conditions [chromium], [kube] and [kubelet]
// (false when Chromium, etcd and kube-apiserver, or the kubelet
// credential driver are not installed; an error instead under
// BERTH_REQUIRE_TOOLS=1), and these variables:
// TENANT_ID, SUBSCRIPTION_ID, BERTH_URL, BERTH_CA, BERTH_PORT, ADMIN_ID,
// ADMIN_SECRET.
func TestScenarios(t *testing.T) {
	runScenarios(t, berthtest.Start(t), testscript.Params{Dir: filepath.Join("testdata", "scenarios")})
}

// TestScenariosReplicas runs the scenario scripts S1 to S4, unchanged,
// against three replicas on one PostgreSQL and one bucket behind HAProxy
// (berthtest.StartReplicas): every command and client reaches berth
// through the load balancer, so consecutive steps of a script land on
// different replicas.
func TestScenariosReplicas(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "s[1-4]_*.txtar"))
	if err != nil || len(files) < 4 {
		t.Fatalf("scenario scripts S1 to S4: %v, %v", files, err)
	}
	r := berthtest.StartReplicas(t, 3)
	t.Cleanup(func() {
		if t.Failed() {
			for i, s := range r.Servers {
				t.Logf("%s log:\n%s", berthtest.ReplicaName(i), s.Log.String())
			}
		}
	})
	runScenarios(t, r.Front, testscript.Params{Files: files})
}

// runScenarios runs the scripts p names against the berth s, which may be
// one server or the front of several.
func runScenarios(t *testing.T, s *berthtest.Server, p testscript.Params) {
	bin := berthtest.Binary(t)
	_, port, _ := net.SplitHostPort(s.Host)
	chromium, chromiumErr := lookChromium()
	kube, kubeErr := kubetest.Available()
	kubelet, kubeletErr := kubeletDriver()
	spki, err := serverSPKI(s)
	if err != nil {
		t.Fatal(err)
	}
	p.Condition = func(cond string) (bool, error) {
		switch cond {
		case "chromium":
			return chromium != "", chromiumErr
		case "kube":
			return kube, kubeErr
		case "kubelet":
			return kubelet != "", kubeletErr
		}
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	p.Setup = func(e *testscript.Env) error {
		config := filepath.Join(e.WorkDir, ".berth")
		e.Values[kubeKey{}] = new(*kubetest.Cluster)
		for k, v := range map[string]string{
			"BERTH_CONFIG_DIR": config,
			"TENANT_ID":        s.Boot.TenantID,
			"SUBSCRIPTION_ID":  s.Boot.SubscriptionID,
			"BERTH_URL":        s.URL,
			"BERTH_CA":         s.CAFile,
			// Login servers answer at berth's port: REGISTRY:$BERTH_PORT.
			"BERTH_PORT": port,
			// The bootstrap administrator, to push what scenarios pull.
			"ADMIN_ID":     s.Boot.ClientID,
			"ADMIN_SECRET": s.Boot.ClientSecret,
		} {
			e.Setenv(k, v)
		}
		// --server: the bootstrap file names the replica that wrote it.
		if stdout, stderr, err := (cli{bin: bin, config: config}).exec("login", "--data-dir", s.DataDir, "--server", s.URL, "-o", "none"); err != nil {
			return fmt.Errorf("berth login: %v\n%s%s", err, stdout, stderr)
		}
		return nil
	}
	p.Cmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"berth": func(ts *testscript.TestScript, neg bool, args []string) {
			err := ts.Exec(bin, args...)
			switch {
			case neg && err == nil:
				ts.Fatalf("berth %s succeeded, want a failure", strings.Join(args, " "))
			case !neg && err != nil:
				ts.Fatalf("berth %s: %v", strings.Join(args, " "), err)
			}
		},
		"image": func(ts *testscript.TestScript, neg bool, args []string) {
			err := imageCommand(ts, s, bin, args)
			switch {
			case neg && err == nil:
				ts.Fatalf("image %s succeeded, want a failure", strings.Join(args, " "))
			case !neg && err != nil:
				ts.Fatalf("image %s: %v", strings.Join(args, " "), err)
			case neg:
				ts.Logf("image %s failed as it should: %v", strings.Join(args, " "), err)
			}
		},
		"imds": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 3 || args[0] != "start" {
				ts.Fatalf("usage: imds start VM_ID CREDENTIAL_FILE")
			}
			imdsCommand(ts, bin, args[1], args[2])
		},
		"kube": func(ts *testscript.TestScript, neg bool, args []string) {
			err := kubeCommand(ts, args)
			switch {
			case neg && err == nil:
				ts.Fatalf("kube %s succeeded, want a failure", strings.Join(args, " "))
			case !neg && err != nil:
				ts.Fatalf("kube %s: %v", strings.Join(args, " "), err)
			case neg:
				ts.Logf("kube %s failed as it should: %v", strings.Join(args, " "), err)
			}
		},
		"kubelet": func(ts *testscript.TestScript, neg bool, args []string) {
			err := kubeletCommand(ts, s, bin, kubelet, args)
			switch {
			case neg && err == nil:
				ts.Fatalf("kubelet %s succeeded, want a failure", strings.Join(args, " "))
			case !neg && err != nil:
				ts.Fatalf("kubelet %s: %v", strings.Join(args, " "), err)
			case neg:
				ts.Logf("kubelet %s failed as it should: %v", strings.Join(args, " "), err)
			}
		},
		"tenant": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 3 || args[0] != "create" {
				ts.Fatalf("usage: tenant create PREFIX DOMAIN")
			}
			tenantCommand(ts, bin, s, args[1], args[2])
		},
		"browser": func(ts *testscript.TestScript, neg bool, args []string) {
			err := browserCommand(ts, chromium, spki, args)
			switch {
			case neg && err == nil:
				ts.Fatalf("browser %s succeeded, want a failure", strings.Join(args, " "))
			case err != nil:
				fmt.Fprintln(ts.Stderr(), err)
				if !neg {
					ts.Fatalf("browser %s: %v", strings.Join(args, " "), err)
				}
			}
		},
		"capture": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 1 {
				ts.Fatalf("usage: capture VAR")
			}
			v := strings.TrimSpace(ts.ReadFile("stdout"))
			if v == "" {
				ts.Fatalf("capture %s: the previous command printed nothing", args[0])
			}
			ts.Setenv(args[0], v)
		},
	}
	testscript.Run(t, p)
}

// imdsCommand starts berth imds for the machine vmID with its credential
// file, on a loopback port, for the rest of the script, and points the
// CLI at it with BERTH_IMDS_ENDPOINT, as on a machine whose agent does
// not own 169.254.169.254.
func imdsCommand(ts *testscript.TestScript, bin, vmID, credential string) {
	addr, stop, err := startAgent(bin, vmID, ts.MkAbs(credential))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Defer(func() { ts.Logf("berth imds stderr:\n%s", stop()) })
	ts.Setenv("BERTH_IMDS_ENDPOINT", addr)
}

// startAgent runs berth imds on a loopback port with extra flags; stop
// ends it and returns what it logged. An empty vmID gives no --vm: the
// machine is the one the credential file names.
func startAgent(bin, vmID, credential string, flags ...string) (addr string, stop func() string, err error) {
	args := []string{"imds", "--credential", credential, "--listen", "127.0.0.1:0"}
	if vmID != "" {
		args = append(args, "--vm", vmID)
	}
	return startServing(bin, append(args, flags...)...)
}

// tenantCommand runs berth tenant create on the server's data directory
// and stores, as the operator of the server does, and sets PREFIX_TENANT_ID,
// PREFIX_SUBSCRIPTION_ID, PREFIX_ADMIN_ID and PREFIX_ADMIN_SECRET: the new
// tenant and its administrator.
func tenantCommand(ts *testscript.TestScript, bin string, s *berthtest.Server, prefix, domain string) {
	args := append([]string{"tenant", "create", "--display-name", prefix, "--domain", domain, "--data-dir", s.DataDir}, s.StoreArgs...)
	out, stderr, err := (cli{bin: bin, env: s.Env}).exec(args...)
	if err != nil {
		ts.Fatalf("berth tenant create: %v\n%s", err, stderr)
	}
	var t struct{ TenantID, SubscriptionID, ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(out), &t); err != nil || t.TenantID == "" || t.ClientSecret == "" {
		ts.Fatalf("berth tenant create printed %q: %v", out, err)
	}
	for k, v := range map[string]string{"TENANT_ID": t.TenantID, "SUBSCRIPTION_ID": t.SubscriptionID, "ADMIN_ID": t.ClientID, "ADMIN_SECRET": t.ClientSecret} {
		ts.Setenv(prefix+"_"+k, v)
	}
}
