package sts

import (
	"context"
	"sync"
	"time"
)

// throttle slows down guessing: after freeFailures wrong secrets for one
// client within window, every further attempt for that client waits,
// twice as long each time up to maxDelay. Other clients are not affected,
// and nobody is locked out: the right secret still works, only later. A
// success clears the client's record.
//
// The record is kept per server process; several replicas each slow a
// guesser down on their own.
type throttle struct {
	mu       sync.Mutex
	failures map[string]*failureRecord
	// sleep waits for d or until ctx ends; tests replace it to observe
	// the delays without waiting for them.
	sleep func(ctx context.Context, d time.Duration) error
}

type failureRecord struct {
	count int
	since time.Time
}

const (
	freeFailures = 5
	window       = time.Minute
	firstDelay   = 100 * time.Millisecond
	maxDelay     = 10 * time.Second
	// maxTracked bounds memory under a spray of made-up client ids.
	maxTracked = 100_000
)

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// delay is how long an attempt for client waits now.
func (t *throttle) delay(client string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.failures[client]
	if r == nil || now.Sub(r.since) > window || r.count < freeFailures {
		return 0
	}
	d := firstDelay << min(r.count-freeFailures, 10)
	return min(d, maxDelay)
}

// wait delays an attempt as delay says.
func (t *throttle) wait(ctx context.Context, client string) error {
	d := t.delay(client, time.Now())
	if d == 0 {
		return nil
	}
	sleep := t.sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	return sleep(ctx, d)
}

func (t *throttle) failed(client string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures == nil || len(t.failures) >= maxTracked {
		t.failures = map[string]*failureRecord{}
	}
	r := t.failures[client]
	if r == nil || now.Sub(r.since) > window {
		r = &failureRecord{since: now}
		t.failures[client] = r
	}
	r.count++
}

func (t *throttle) succeeded(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, client)
}
