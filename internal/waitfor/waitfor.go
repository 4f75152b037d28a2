// Package waitfor is the one polling helper of copyguard's tests: wait for
// a condition instead of sleeping and hoping. It imports only the standard
// library, so any package's tests may use it, core ones included.
package waitfor

import (
	"testing"
	"time"
)

// Every is how often Cond checks its condition.
const Every = 10 * time.Millisecond

// Cond calls cond every 10ms until it returns true, and fails the test,
// naming what it waited for, if that takes longer than timeout. cond is
// always called at least once, and once more after the deadline passed.
func Cond(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(Every)
	}
}
