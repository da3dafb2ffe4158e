package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestScenarios runs the scripts in testdata/scenarios against one real
// berth serve. Each script starts logged in as the bootstrap administrator
// (its own configuration directory, $BERTH_CONFIG_DIR), with `berth` the
// real CLI binary, `capture VAR` standing in for the shell's
// VAR=$(command) (it sets VAR to the previous command's trimmed stdout),
// `image` a container client (see imageCommand), and these variables:
// TENANT_ID, SUBSCRIPTION_ID, BERTH_URL, BERTH_CA, ADMIN_ID, ADMIN_SECRET.
func TestScenarios(t *testing.T) {
	s := berthtest.Start(t)
	bin := berthtest.Binary(t)
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "scenarios"),
		Setup: func(e *testscript.Env) error {
			config := filepath.Join(e.WorkDir, ".berth")
			for k, v := range map[string]string{
				"BERTH_CONFIG_DIR": config,
				"TENANT_ID":        s.Boot.TenantID,
				"SUBSCRIPTION_ID":  s.Boot.SubscriptionID,
				"BERTH_URL":        s.URL,
				"BERTH_CA":         s.CAFile,
				// The bootstrap administrator, to push what scenarios pull.
				"ADMIN_ID":     s.Boot.ClientID,
				"ADMIN_SECRET": s.Boot.ClientSecret,
			} {
				e.Setenv(k, v)
			}
			cmd := exec.Command(bin, "login", "--data-dir", s.DataDir, "-o", "none")
			cmd.Env = append(os.Environ(), "BERTH_CONFIG_DIR="+config)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("berth login: %v\n%s", err, out)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
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
				err := imageCommand(ts, s, args)
				switch {
				case neg && err == nil:
					ts.Fatalf("image %s succeeded, want a failure", strings.Join(args, " "))
				case !neg && err != nil:
					ts.Fatalf("image %s: %v", strings.Join(args, " "), err)
				case neg:
					ts.Logf("image %s failed as it should: %v", strings.Join(args, " "), err)
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
		},
	})
}
