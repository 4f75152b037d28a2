package ecs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
)

// TestConcurrentCalls sends 64 goroutines through one Client at once,
// with per-call timeouts that differ (some cut short by their context), so
// that the race detector sees any state the pooled SDK clients share.
func TestConcurrentCalls(t *testing.T) {
	const n = 64
	// Long timeouts: 64 calls at once under the race detector on a busy
	// 2-core machine can take seconds; this test is about races.
	e := newEnv(t, func(c *ecs.Config) { c.ConnectTimeout, c.ReadTimeout = 20*time.Second, 30*time.Second })
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.waiting(region)
	}
	base := baseline(e)
	e.sim.SetFaults(ecssim.Faults{Latency: 20 * time.Millisecond})

	var wg sync.WaitGroup
	errs := make(chan string, 4*n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			ctx := context.Background()
			if i%4 == 0 {
				// A deadline shorter than the latency: a timeout.
				if _, err := e.c.ListCopies(ctxTimeout(t, 5*time.Millisecond), region); classOf(err) != "retryable" {
					errs <- "short ListCopies: " + errString(err)
				}
			}
			if i%2 == 1 {
				if _, err := e.c.ListCopies(ctx, region); err != nil {
					errs <- "ListCopies: " + err.Error()
				}
			}
			reqID, err := e.c.CancelCopy(ctx, region, ids[i])
			if err != nil || reqID == "" {
				errs <- "CancelCopy: " + errString(err)
			}
			if _, err := e.c.CancelCopy(ctx, region, ids[i]); classOf(err) != "outcome/already_gone" {
				errs <- "second CancelCopy: " + errString(err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	for _, id := range ids {
		if _, ok := e.sim.Image(region, id); ok {
			t.Errorf("copy %s still exists", id)
		}
	}
	if got := e.sim.TotalCalls("CancelCopyImage"); got != 2*n {
		t.Errorf("simulator saw %d cancels, want %d", got, 2*n)
	}
	t.Logf("goroutines back to baseline %v after the last call", waitGoroutines(t, e, base, 10*time.Second))
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
