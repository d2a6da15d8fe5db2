package testutil

import (
	"testing"
	"time"
)

// Poll calls cond until it holds or timeout has passed, and reports whether it held. The
// timeout bounds the test; it is no assertion on how fast anything is: only cond is checked.
// It polls about 500 times over the timeout, at most every 50 ms.
func Poll(timeout time.Duration, cond func() bool) bool {
	interval := min(max(timeout/500, time.Millisecond), 50*time.Millisecond)
	deadline := time.Now().Add(timeout)
	for n := int(timeout/interval) + 1; n > 0; n-- {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(interval)
	}
	return false
}

// Eventually polls cond (see Poll) and fails tb naming what if it never holds.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !Poll(timeout, cond) {
		tb.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}
