package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	benchModule        = "github.com/berthhq/berth/bench"
	distributionModule = "github.com/distribution/distribution/v3"
)

// goCmd runs the go command in dir and returns its trimmed stdout.
func goCmd(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %s (%w)", strings.Join(args, " "), strings.TrimSpace(stderr.String()), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// benchModuleDir locates the bench module, which pins the Distribution
// version through its tool directive.
func benchModuleDir(ctx context.Context) (string, error) {
	dir, err := goCmd(ctx, "", "list", "-m", "-f", "{{.Dir}}", benchModule)
	if err != nil {
		return "", fmt.Errorf("run this from inside the bench module: %w", err)
	}
	return dir, nil
}

// DistributionBinary returns Distribution's registry binary at the version
// pinned in bench/go.mod, building it into the user cache on first use. The
// cache lives outside the repository so build outputs never reach git.
func DistributionBinary(ctx context.Context) (bin, version string, err error) {
	modDir, err := benchModuleDir(ctx)
	if err != nil {
		return "", "", err
	}
	version, err = goCmd(ctx, modDir, "list", "-m", "-f", "{{.Version}}", distributionModule)
	if err != nil {
		return "", "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(cache, "berth-ci", "distribution-registry-"+version)
	if _, err := os.Stat(bin); err == nil {
		return bin, version, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", "", err
	}
	// Build next to the final path and rename, so an interrupted build never
	// leaves a truncated binary that later runs would trust.
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	if _, err := goCmd(ctx, modDir, "build", "-o", tmp, distributionModule+"/cmd/registry"); err != nil {
		os.Remove(tmp)
		return "", "", err
	}
	return bin, version, os.Rename(tmp, bin)
}

// BerthBinary returns $BERTH_BIN, or builds ./cmd/berth from the repository
// that contains the bench module into dir. source says which it was, for the
// report.
func BerthBinary(ctx context.Context, dir string) (bin, source string, err error) {
	if bin := os.Getenv("BERTH_BIN"); bin != "" {
		return bin, "BERTH_BIN=" + bin, nil
	}
	modDir, err := benchModuleDir(ctx)
	if err != nil {
		return "", "", err
	}
	root := filepath.Dir(modDir)
	bin = filepath.Join(dir, "berth")
	if _, err := goCmd(ctx, root, "build", "-o", bin, "./cmd/berth"); err != nil {
		return "", "", err
	}
	source = "./cmd/berth"
	if rev, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--always", "--dirty").Output(); err == nil {
		source += " at " + strings.TrimSpace(string(rev))
	}
	return bin, source, nil
}
