package sts

import (
	"context"
	"testing"
	"time"
)

func TestThrottleSlowsOneClientOnly(t *testing.T) {
	var slept []time.Duration
	th := &throttle{sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
	ctx := context.Background()
	now := time.Now()
	for i := 0; i < freeFailures; i++ {
		if err := th.wait(ctx, "guesser"); err != nil {
			t.Fatal(err)
		}
		th.failed("guesser", now)
	}
	if len(slept) != 0 {
		t.Fatalf("the first %d failures were delayed: %v", freeFailures, slept)
	}
	for i := 0; i < 3; i++ {
		th.wait(ctx, "guesser")
		th.failed("guesser", now)
	}
	if len(slept) != 3 || slept[0] != firstDelay || slept[1] != 2*firstDelay || slept[2] != 4*firstDelay {
		t.Fatalf("delays %v, want doubling from %v", slept, firstDelay)
	}
	if d := th.delay("bystander", now); d != 0 {
		t.Fatalf("another client is delayed %v", d)
	}
	for i := 0; i < 30; i++ {
		th.failed("guesser", now)
	}
	if d := th.delay("guesser", now); d != maxDelay {
		t.Fatalf("delay after many failures %v, want the cap %v", d, maxDelay)
	}
	if d := th.delay("guesser", now.Add(window+time.Second)); d != 0 {
		t.Fatalf("delay after the window %v", d)
	}
	th.succeeded("guesser")
	if d := th.delay("guesser", now); d != 0 {
		t.Fatalf("delay after a success %v", d)
	}
}
