package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// cli is how e2e's Go tests run the berth CLI, the one place that does:
// as one user, with a configuration directory of its own (config, as
// BERTH_CONFIG_DIR; empty keeps the environment's), more environment,
// standard input, and the name it is called by (as, a symlink to the
// binary, as docker calls docker-credential-berth). Flows that are only
// CLI commands and their output belong in testdata/scenarios instead.
type cli struct {
	t      *testing.T // for try, status and run; exec needs only bin
	bin    string
	config string
	env    []string
	stdin  string
	as     string
}

// newCLI is the CLI with its own configuration directory.
func newCLI(t *testing.T, config string) cli {
	return cli{t: t, bin: berthtest.Binary(t), config: config}
}

// exec runs the CLI once; err is an *exec.ExitError when it exited with
// a failure.
func (c cli) exec(args ...string) (stdout, stderr string, err error) {
	bin := c.bin
	if c.as != "" {
		dir, err := os.MkdirTemp("", "berth-as-")
		if err != nil {
			return "", "", err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, c.as)
		if err := os.Symlink(c.bin, bin); err != nil {
			return "", "", err
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), c.env...)
	if c.config != "" {
		cmd.Env = append(cmd.Env, "BERTH_CONFIG_DIR="+c.config)
	}
	cmd.Stdin = strings.NewReader(c.stdin)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err = cmd.Run()
	return out.String(), errs.String(), err
}

// try runs the CLI and returns what it printed (stdout, then stderr) and
// its error, for tests that expect a failure.
func (c cli) try(args ...string) (string, error) {
	c.t.Helper()
	stdout, stderr, err := c.exec(args...)
	if err != nil {
		if _, exited := err.(*exec.ExitError); !exited {
			c.t.Fatalf("berth %s: %v", strings.Join(args, " "), err)
		}
	}
	return stdout + stderr, err
}

// status runs the CLI and returns its stdout and exit status, for tests
// of what a program calling it (docker, a kubelet) reads; stderr goes to
// the test's log.
func (c cli) status(args ...string) (string, int) {
	c.t.Helper()
	stdout, stderr, err := c.exec(args...)
	code := 0
	if e, ok := err.(*exec.ExitError); ok {
		code = e.ExitCode()
	} else if err != nil {
		c.t.Fatalf("berth %s: %v", strings.Join(args, " "), err)
	}
	if stderr != "" {
		c.t.Logf("%s %v stderr: %s", c.as, args, stderr)
	}
	return stdout, code
}

// run runs the CLI, fails the test if it fails, and returns its trimmed
// stdout.
func (c cli) run(args ...string) string {
	c.t.Helper()
	stdout, stderr, err := c.exec(args...)
	if err != nil {
		c.t.Fatalf("berth %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return strings.TrimSpace(stdout)
}

// operator runs the CLI as the server's operator does, on its data
// directory and stores (tenant create, keys, gc, fsck).
func operator(t *testing.T, s *berthtest.Server, args ...string) (string, error) {
	c := newCLI(t, "")
	c.env = s.Env
	return c.try(append(append(args, "--data-dir", s.DataDir), s.StoreArgs...)...)
}

// adminCLI is the CLI logged in as the bootstrap administrator, with a
// configuration directory of its own.
func adminCLI(t *testing.T, s *berthtest.Server) cli {
	c := newCLI(t, t.TempDir())
	// --server: behind a load balancer the bootstrap file names a replica.
	c.run("login", "--data-dir", s.DataDir, "--server", s.URL, "-o", "none")
	return c
}
