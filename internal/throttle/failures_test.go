package throttle

import (
	"context"
	"testing"
	"time"
)

func newFailures() *Failures {
	return &Failures{Free: 3, Window: time.Minute, First: time.Second, Max: 8 * time.Second}
}

func TestFailuresSlowOneKeyOnly(t *testing.T) {
	f := newFailures()
	now := time.Now()
	for i := 0; i < f.Free; i++ {
		if d := f.Wait("guesser", now); d != 0 {
			t.Fatalf("failure %d waits %v before the free ones are spent", i, d)
		}
		f.Failed("guesser", now)
	}
	waits := []time.Duration{f.Wait("guesser", now)}
	for i := 0; i < 4; i++ {
		f.Failed("guesser", now)
		waits = append(waits, f.Wait("guesser", now))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v (doubling up to the cap)", waits, want)
		}
	}
	if d := f.Wait("bystander", now); d != 0 {
		t.Fatalf("another key waits %v", d)
	}
	if d := f.Wait("guesser", now.Add(3*time.Second)); d != 5*time.Second {
		t.Fatalf("3 s after the last failure the wait is %v, want what is left of it (5 s)", d)
	}
	if d := f.Wait("guesser", now.Add(f.Window+time.Second)); d != 0 {
		t.Fatalf("after the window the wait is %v", d)
	}
	f.Succeeded("guesser")
	if d := f.Wait("guesser", now); d != 0 {
		t.Fatalf("after a success the wait is %v", d)
	}
}

func TestFailuresForgetAfterWindow(t *testing.T) {
	f := newFailures()
	now := time.Now()
	for i := 0; i < 10; i++ {
		f.Failed("k", now)
	}
	later := now.Add(f.Window + time.Second)
	f.Failed("k", later)
	if d := f.Wait("k", later); d != 0 {
		t.Fatalf("a failure after the window starts a new count, but waits %v", d)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	f := newFailures()
	for i := 0; i < 10; i++ {
		f.Failed("k", time.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Sleep(ctx, "k"); err != context.Canceled {
		t.Fatalf("Sleep on a cancelled context = %v", err)
	}
	if err := f.Sleep(context.Background(), "other"); err != nil {
		t.Fatalf("Sleep for a key with no failures = %v", err)
	}
}
