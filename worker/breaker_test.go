package worker

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/copyguard/copyguard/event"
)

// proberFunc adapts a function to Prober.
type proberFunc func(ctx context.Context, region string) error

func (f proberFunc) Probe(ctx context.Context, region string) error { return f(ctx, region) }

// TestBreaker: two replicas share a region's breaker. Credential errors
// from either open it at the threshold; then nobody calls, cancels are
// held (not final) once each, the probe keeps it open while the key is
// bad and closes it when the API answers, and the held job then ends with
// one final result.
func TestBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		keyBad := true
		probes := 0
		probe := proberFunc(func(context.Context, string) error {
			mu.Lock()
			defer mu.Unlock()
			probes++
			if keyBad {
				return errForbidden
			}
			return nil
		})
		limits := newMemKV()
		mk := func(instance string) *rig {
			return newRig(t, func(r *rig, c *Config) {
				r.limits, c.Limits = limits, limits
				c.Instance, c.Now, c.Prober = instance, time.Now, probe
				c.BreakerThreshold, c.BreakerProbe = 2, 10*time.Second
			})
		}
		a, b := mk("test-1"), mk("test-2")
		b.claims, b.w.actor.claims.kv, b.w.decider.claims.kv = a.claims, a.claims, a.claims
		a.calls.errs = []error{errForbidden}
		b.calls.errs = []error{errForbidden}
		ref := refOf("t-br", event.TypeBudgetExceeded)
		c1, c2, c3 := inflight("cn-hangzhou", "m-brk00001", nil), inflight("cn-hangzhou", "m-brk00002", nil), inflight("cn-hangzhou", "m-brk00003", nil)
		m1, m2, m3 := a.queue(t, ref, c1), a.queue(t, ref, c2), a.queue(t, ref, c3)

		if v := a.w.HandleJob(testCtx, m1); v.Kind != Nak || len(a.results(t)) != 0 {
			t.Fatalf("first credential error: %+v, results %v", v, a.results(t))
		}
		if open, _ := b.w.CircuitOpen("cn-hangzhou"); open {
			t.Fatal("open after one error")
		}
		// The second, on the other replica, opens it for both.
		m2.Delivered = 1
		if v := b.w.HandleJob(testCtx, m2); v.Kind != Nak || v.Reason != "circuit open: Forbidden.RAM" {
			t.Fatalf("second error: %+v", v)
		}
		rs := b.results(t)
		if len(rs) != 1 || rs[0].Outcome != "held" || rs[0].Final || rs[0].ImageID != c2.ImageID {
			t.Fatalf("results on b: %+v, want one held, not final, for %s", rs, c2.ImageID)
		}
		time.Sleep(breakerCacheFor)
		calls := a.calls.count() + b.calls.count()
		m3.Delivered = 1
		if v := a.w.HandleJob(testCtx, m3); v.Kind != Nak || v.Delay != 10*time.Second {
			t.Fatalf("job while open: %+v", v)
		}
		m1.Delivered = 2
		if v := a.w.HandleJob(testCtx, m1); v.Kind != Nak {
			t.Fatalf("redelivered job while open: %+v", v)
		}
		m1.Delivered = 3
		a.w.HandleJob(testCtx, m1) // held once: no second result
		if n := a.calls.count() + b.calls.count(); n != calls {
			t.Errorf("CancelCopyImage calls while open: %d", n-calls)
		}
		if got := len(a.results(t)); got != 2 {
			t.Errorf("results on a = %d, want 2 (c3 and c1 held once each): %+v", got, a.results(t))
		}
		if rh := a.w.CloudHealth(); len(rh) != 1 || rh[0].OK || !rh[0].CircuitOpen || rh[0].LastError != "circuit open: Forbidden.RAM" {
			t.Errorf("health = %+v", rh)
		}

		ctx, cancel := context.WithCancel(testCtx)
		var wg sync.WaitGroup
		wg.Go(func() { a.w.RunBreakers(ctx) })
		wg.Go(func() { b.w.RunBreakers(ctx) })
		time.Sleep(25 * time.Second)
		mu.Lock()
		if probes != 2 {
			t.Errorf("probes in 25s at one per 10s across two replicas = %d, want 2", probes)
		}
		keyBad = false
		mu.Unlock()
		a.calls.errs, b.calls.errs = nil, nil
		time.Sleep(11 * time.Second)
		synctest.Wait()
		for _, r := range []*rig{a, b} {
			if open, _ := r.w.CircuitOpen("cn-hangzhou"); open {
				t.Errorf("%s: still open after a probe succeeded", r.w.actor.cfg.Instance)
			}
		}
		cancel()
		wg.Wait()

		for _, m := range []*Msg{&m1, &m2, &m3} {
			m.Delivered++
			if v := a.w.HandleJob(testCtx, *m); v.Kind != Ack {
				t.Errorf("job after close: %+v", v)
			}
		}
		final := map[string]int{}
		for _, r := range append(a.results(t), b.results(t)...) {
			if r.Final {
				final[r.ImageID]++
				if r.Outcome != "cancelled" {
					t.Errorf("final %s for %s", r.Outcome, r.ImageID)
				}
			}
		}
		for _, c := range []string{c1.ImageID, c2.ImageID, c3.ImageID} {
			if final[c] != 1 {
				t.Errorf("%s: %d final results, want 1", c, final[c])
			}
		}
	})
}

// TestBreakerResets: an answer from the API between credential errors
// starts the count again; other errors do not count.
func TestBreakerResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(_ *rig, c *Config) { c.BreakerThreshold, c.Now = 2, time.Now })
		br := r.w.actor.breakers.get("cn-hangzhou")
		for _, err := range []error{errForbidden, nil, errForbidden, errUnavailable, errBadParam, errNotFound, errForbidden} {
			if rerr := br.record(testCtx, err); rerr != nil {
				t.Fatal(rerr)
			}
		}
		if s, _ := br.state(testCtx); s.Open || s.Failures != 1 {
			t.Errorf("state %+v, want closed with 1 failure", s)
		}
		if err := br.record(testCtx, errForbidden); err != nil {
			t.Fatal(err)
		}
		if s, _ := br.state(testCtx); !s.Open || s.Code != "Forbidden.RAM" || s.OpenedBy != "test-1" {
			t.Errorf("state %+v, want open", s)
		}
	})
}
