// Command authbench measures authenticated manifest GETs by tag on berth and
// on CNCF Distribution with token auth, side by side, and berth's registry
// token issuance (exchange + token), and prints the results as markdown for
// docs/benchmarks.md. Run it from the bench module:
//
//	cd bench && go run ./cmd/authbench
//
// Progress goes to stderr. BERTH_BIN selects a prebuilt berth binary;
// otherwise ./cmd/berth is built from this repository.
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
	harness.MaybeServeCeiling()
	quick := flag.Bool("quick", false, "run a seconds-long smoke plan whose numbers mean nothing")
	cpuProfile := flag.String("cpuprofile", "", "write CPU profiles of berth, from its --debug-listen, to `prefix`-get.pprof (first manifest GET row) and prefix-issue.pprof (last issuance row)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("authbench: ")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *quick, *cpuProfile); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, quick bool, cpuProfile string) error {
	plan := harness.DefaultAuthPlan()
	if quick {
		plan = harness.QuickAuthPlan()
	}
	plan.CPUProfile = cpuProfile
	scratch, err := os.MkdirTemp("", "berth-authbench-")
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
	log.Print("building berth")
	berthBin, berthSource, err := harness.BerthBinary(ctx, scratch)
	if err != nil {
		return err
	}
	started, loadBefore := time.Now(), harness.LoadAverage()
	rep, err := harness.RunAuth(ctx, plan, berthBin, distBin, scratch, ca, os.Stderr)
	if err != nil {
		return err
	}

	fmt.Printf("Measured %s in %v.\n\n", started.Format("2006-01-02"), time.Since(started).Round(time.Second))
	for _, m := range harness.Machine() {
		fmt.Printf("- %s\n", m)
	}
	fmt.Printf("- load average %s before the run, %s after\n", loadBefore, harness.LoadAverage())
	fmt.Printf("- Distribution %s\n", distVersion)
	fmt.Printf("- berth from %s\n", berthSource)
	if quick {
		fmt.Println("- **-quick plan: these numbers are a smoke test, not a benchmark**")
	}
	fmt.Println()
	rep.WriteMarkdown(os.Stdout)
	return nil
}
