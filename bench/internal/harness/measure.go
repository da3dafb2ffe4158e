package harness

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one measured row.
type Result struct {
	Bytes   int64
	Ops     int
	Elapsed time.Duration
	Err     error
}

// MBps is throughput in decimal megabytes per second, the unit `go test
// -bench` reports with b.SetBytes.
func (r Result) MBps() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

// OpsPerSec is the completed operation rate.
func (r Result) OpsPerSec() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// measure runs ops calls of op on conc goroutines and times the whole batch,
// so the result is aggregate throughput at that concurrency. op returns the
// bytes it moved. The first error cancels the rest.
func measure(ctx context.Context, conc, ops int, op func(ctx context.Context, i int) (int64, error)) Result {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, moved atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, ops) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= ops || ctx.Err() != nil {
					return
				}
				n, err := op(ctx, i)
				if err != nil {
					cancel(err)
					return
				}
				moved.Add(n)
			}
		})
	}
	wg.Wait()
	return Result{Bytes: moved.Load(), Ops: ops, Elapsed: time.Since(start), Err: context.Cause(ctx)}
}
