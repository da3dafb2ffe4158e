// Command tokenbench measures berth's client-credentials token endpoint
// against the machine's RSA-2048 signing rate, measured in the same process
// in the same run, and prints the results as markdown for
// docs/benchmarks.md. Run it from the bench module:
//
//	cd bench && go run ./cmd/tokenbench
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
	quick := flag.Bool("quick", false, "run a second-long smoke plan whose numbers mean nothing")
	perfData := flag.String("perf", "", "record a `file` of berth's CPU stacks with `perf record` during the highest-concurrency row")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("tokenbench: ")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *quick, *perfData); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, quick bool, perfData string) error {
	plan := harness.DefaultTokenPlan()
	if quick {
		plan = harness.QuickTokenPlan()
	}
	plan.PerfData = perfData
	scratch, err := os.MkdirTemp("", "berth-tokenbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)

	log.Print("building berth")
	bin, source, err := harness.BerthBinary(ctx, scratch)
	if err != nil {
		return err
	}
	started, loadBefore := time.Now(), harness.LoadAverage()
	rep, err := harness.RunTokens(ctx, plan, bin, scratch, os.Stderr)
	if err != nil {
		return err
	}

	fmt.Printf("Measured %s in %v.\n\n", started.Format("2006-01-02"), time.Since(started).Round(time.Second))
	for _, m := range harness.Machine() {
		fmt.Printf("- %s\n", m)
	}
	fmt.Printf("- load average %s before the run, %s after\n", loadBefore, harness.LoadAverage())
	fmt.Printf("- berth from %s\n", source)
	if quick {
		fmt.Println("- **-quick plan: these numbers are a smoke test, not a benchmark**")
	}
	fmt.Println()
	rep.WriteMarkdown(os.Stdout)
	return nil
}
