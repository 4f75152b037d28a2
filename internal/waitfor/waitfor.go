// Package waitfor is copyguard's one polling helper: wait for a condition
// instead of sleeping and hoping. Cond is for tests, Until for the demo
// and the bench. It imports only the standard library, so any package's
// tests may use it, core ones included.
package waitfor

import (
	"context"
	"fmt"
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

// Until calls cond every tick, and whenever wake (which may be nil)
// receives, until cond returns true; it returns an error naming what if
// timeout passes or ctx ends first.
func Until(ctx context.Context, what string, timeout, tick time.Duration, wake <-chan struct{}, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	t := time.NewTicker(tick)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("gave up waiting for %s after %v", what, timeout)
		case <-wake:
		case <-t.C:
		}
	}
	return nil
}
