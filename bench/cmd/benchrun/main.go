// Command benchrun benchmarks berth against CNCF Distribution on loopback TLS
// and prints the results as markdown for docs/benchmarks.md. Run it from the
// bench module:
//
//	cd bench && go run ./cmd/benchrun > /tmp/results.md
//
// Progress goes to stderr. BERTH_BIN selects a prebuilt berth binary;
// otherwise ./cmd/berth is built from this repository. If berth cannot be
// built or started, its cells read "pending" and the run still measures
// Distribution and the machine limits.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/berthhq/berth/bench/internal/harness"
)

func main() {
	quick := flag.Bool("quick", false, "run a seconds-long smoke plan whose numbers mean nothing")
	scratchParent := flag.String("dir", os.TempDir(), "parent `directory` for both registries' storage; choose the disk to measure")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchrun: ")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *quick, *scratchParent); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, quick bool, scratchParent string) error {
	plan := harness.DefaultPlan()
	if quick {
		plan = harness.QuickPlan()
	}
	scratch, err := os.MkdirTemp(scratchParent, "berth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	ca, err := harness.NewCA()
	if err != nil {
		return err
	}

	log.Print("building Distribution (cached after the first run)")
	distBin, distVersion, err := harness.DistributionBinary(ctx)
	if err != nil {
		return err
	}
	distribution := &harness.Registry{
		Name: "Distribution",
		Start: func(ctx context.Context, dir string) (*harness.Server, error) {
			return harness.StartDistribution(ctx, distBin, dir, ca)
		},
	}

	log.Print("building berth")
	berth := &harness.Registry{Name: "berth"}
	berthBin, berthSource, err := harness.BerthBinary(ctx, scratch)
	if err != nil {
		berth.Unavailable = fmt.Sprintf("cannot build it: %v", err)
		log.Printf("berth rows will be pending: %v", err)
	} else {
		berth.Start = func(ctx context.Context, dir string) (*harness.Server, error) {
			return harness.StartBerth(ctx, berthBin, dir)
		}
	}

	started, loadBefore := time.Now(), harness.LoadAverage()
	rep, err := harness.Run(ctx, plan, scratch, ca, berth, distribution, os.Stderr)
	if err != nil {
		return err
	}

	fmt.Printf("Measured %s in %v.\n\n", started.Format("2006-01-02"), time.Since(started).Round(time.Second))
	for _, m := range harness.Machine() {
		fmt.Printf("- %s\n", m)
	}
	fmt.Printf("- load average %s before the run, %s after\n", loadBefore, harness.LoadAverage())
	fmt.Printf("- Distribution %s\n", distVersion)
	if berthSource != "" {
		fmt.Printf("- berth from %s\n", berthSource)
	}
	if quick {
		fmt.Println("- **-quick plan: these numbers are a smoke test, not a benchmark**")
	}
	fmt.Println()
	rep.WriteMarkdown(os.Stdout)
	return nil
}
