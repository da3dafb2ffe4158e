package clientauth

import "time"

// Wait exposes how long the next attempt of appID from source waits.
func Wait(c *Checker, appID, source string) time.Duration {
	return c.guard.Wait(appID+"\x00"+source, time.Now())
}

// FreeFailures is how many wrong secrets cost nothing.
func FreeFailures(c *Checker) int { return c.guard.Free }
