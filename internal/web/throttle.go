package web

import (
	"sync"
	"time"
)

// throttle slows down password guessing per user: after freeFailures
// wrong passwords within failureWindow, each further attempt must wait
// twice as long as the one before, up to maxWait. Attempts made while
// waiting are refused without checking the password, so that a guesser
// also cannot make the server spend argon2's memory and time. Nobody is
// locked out for long: the right password works once the wait is over.
// Records are per process.
type throttle struct {
	mu       sync.Mutex
	failures map[string]*failures
}

type failures struct {
	count int
	last  time.Time
}

const (
	freeFailures  = 5
	failureWindow = 15 * time.Minute
	firstWait     = time.Second
	maxWait       = 5 * time.Minute
	// maxTracked bounds memory under a spray of made-up user names.
	maxTracked = 100_000
)

// wait is how long attempts for user must still wait (0: try now).
func (t *throttle) wait(user string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.failures[user]
	if f == nil || f.count < freeFailures || now.Sub(f.last) > failureWindow {
		return 0
	}
	d := min(firstWait<<min(f.count-freeFailures, 20), maxWait)
	return max(f.last.Add(d).Sub(now), 0)
}

func (t *throttle) failed(user string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures == nil || len(t.failures) >= maxTracked {
		t.failures = map[string]*failures{}
	}
	f := t.failures[user]
	if f == nil || now.Sub(f.last) > failureWindow {
		f = &failures{}
		t.failures[user] = f
	}
	f.count++
	f.last = now
}

func (t *throttle) succeeded(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, user)
}
