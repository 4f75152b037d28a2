package worker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestLimiterAdapts(t *testing.T) {
	type step struct {
		advance time.Duration
		op      string // "throttled" or "succeeded"
		want    float64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "throttled halves at most once a second",
			steps: []step{
				{0, "throttled", 8},
				{0, "throttled", 8},
				{999 * time.Millisecond, "throttled", 8},
				{time.Millisecond, "throttled", 4},
				{time.Second, "throttled", 2},
			},
		},
		{
			name: "throttled stops at the floor, base/16",
			steps: []step{
				{0, "throttled", 8},
				{time.Second, "throttled", 4},
				{time.Second, "throttled", 2},
				{time.Second, "throttled", 1},
				{time.Second, "throttled", 1},
				{time.Hour, "throttled", 1},
			},
		},
		{
			name: "succeeded raises by a quarter, at most once a second",
			steps: []step{
				{0, "throttled", 8},
				{0, "succeeded", 8},
				{time.Second, "succeeded", 10},
				{0, "succeeded", 10},
				{time.Second, "succeeded", 12.5},
				{time.Second, "succeeded", 15.625},
				{time.Second, "succeeded", 16}, // capped at the base
				{time.Second, "succeeded", 16},
			},
		},
		{
			name: "succeeded at the base does not delay the next throttle",
			steps: []step{
				{0, "succeeded", 16},
				{0, "throttled", 8},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := newLimiter(newMemKV(), "cancel.r", 16, 1, clock.Now)
			if l.Rate() != 16 {
				t.Fatalf("initial rate = %v", l.Rate())
			}
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				var err error
				switch s.op {
				case "throttled":
					err = l.Throttled(t.Context())
				case "succeeded":
					err = l.Succeeded(t.Context())
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := l.Rate(); got != s.want {
					t.Fatalf("step %d (+%v %s): rate = %v, want %v", i, s.advance, s.op, got, s.want)
				}
			}
		})
	}
}

// TestLimiterPaces runs the limiter on the clock it runs on in production,
// inside a synctest bubble: time moves only while every goroutine waits,
// so the pace of Wait is exact rather than bounded by wall-clock slack.
func TestLimiterPaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(newMemKV(), "cancel.r", 16, 1, time.Now)
		waits := func(n int) time.Duration {
			t.Helper()
			start := time.Now()
			for range n {
				if err := l.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			return time.Since(start)
		}
		if d := waits(17); d != time.Second {
			t.Errorf("17 waits at 16/s with a burst of 1 took %v, want 1s", d)
		}
		mustOK(t, l.Throttled(t.Context()))
		mustOK(t, l.Throttled(t.Context())) // the same burst of answers: counts once
		if d := waits(8); d != time.Second {
			t.Errorf("8 waits after Throttling took %v, want 1s at 8/s", d)
		}
		mustOK(t, l.Succeeded(t.Context())) // a second later: up by a quarter
		if d := waits(10); d != time.Second {
			t.Errorf("10 waits after a success took %v, want 1s at 10/s", d)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := l.Wait(ctx); err == nil {
			t.Error("Wait on an ended context returned nil; a shutting-down handler would call")
		}
	})
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// grants runs n Wait calls on each limiter at once (as replicas' handlers
// would) and returns every grant time, sorted.
func grants(t *testing.T, ls []*limiter, n int) []time.Time {
	t.Helper()
	var mu sync.Mutex
	var got []time.Time
	var wg sync.WaitGroup
	for _, l := range ls {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, time.Now())
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	slices.SortFunc(got, func(a, b time.Time) int { return a.Compare(b) })
	return got
}

// maxInWindow is the most grants in any window of length w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	best := 0
	for i := range ts {
		j := i
		for j < len(ts) && ts[j].Sub(ts[i]) < w {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

func TestLimiterSharesOneBudget(t *testing.T) {
	tests := []struct {
		name     string
		replicas int
		qps      float64
		burst    int
		calls    int // per replica
	}{
		{"one replica", 1, 10, 1, 30},
		{"three replicas share 10/s", 3, 10, 1, 10},
		{"three replicas with a burst of 5", 3, 20, 5, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				kv := newMemKV()
				var ls []*limiter
				for range tt.replicas {
					ls = append(ls, newLimiter(kv, "cancel.cn-hangzhou", tt.qps, tt.burst, time.Now))
				}
				start := time.Now()
				got := grants(t, ls, tt.calls)
				total := tt.replicas * tt.calls
				if len(got) != total {
					t.Fatalf("granted %d calls, want %d", len(got), total)
				}
				// Any one-second window holds at most the rate plus the burst.
				if n, limit := maxInWindow(got, time.Second), int(tt.qps)+tt.burst; n > limit {
					t.Errorf("%d grants in one second, want <= %d", n, limit)
				}
				// And the budget is used: the fleet is not slower than the rate.
				want := time.Duration(float64(total-tt.burst) / tt.qps * float64(time.Second))
				if took := got[len(got)-1].Sub(start); took > want {
					t.Errorf("last grant after %v, want <= %v", took, want)
				}
			})
		})
	}
}

func TestLimiterThrottlingSlowsEveryReplica(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv := newMemKV()
		a := newLimiter(kv, "cancel.r", 16, 1, time.Now)
		b := newLimiter(kv, "cancel.r", 16, 1, time.Now)
		ctx := context.Background()
		if err := a.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if err := a.Throttled(ctx); err != nil {
			t.Fatal(err)
		}
		// A second throttled answer within the second is the same signal.
		if err := a.Throttled(ctx); err != nil {
			t.Fatal(err)
		}
		// b never saw Throttling, yet its calls are now spaced at 8/s.
		time.Sleep(time.Second)
		got := grants(t, []*limiter{b}, 9)
		if gap := got[8].Sub(got[0]); gap < time.Second {
			t.Errorf("9 grants at a halved rate took %v, want >= 1s (8/s)", gap)
		}
		if r := b.Rate(); r != 8 {
			t.Errorf("b sees rate %v, want 8", r)
		}
		// Successes bring it back by a quarter a second, to the base.
		for i, want := range []float64{10, 12.5, 15.625, 16, 16} {
			time.Sleep(time.Second)
			if err := b.Succeeded(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.Wait(ctx); err != nil { // a reads the shared value
				t.Fatal(err)
			}
			if r := a.Rate(); r != want {
				t.Errorf("step %d: rate %v, want %v", i, r, want)
			}
		}
	})
}

func TestLimiterFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(newMemKV(), "cancel.r", 16, 1, time.Now)
		for range 10 {
			if err := l.Throttled(context.Background()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
		}
		if r := l.Rate(); r != 1 {
			t.Errorf("rate after many throttles %v, want the floor 1 (16/16)", r)
		}
	})
}

func TestLimiterKVErrors(t *testing.T) {
	kv := newMemKV()
	boom := errors.New("nats: timeout")
	kv.fail = func(op, key string) error { return boom }
	l := newLimiter(kv, "cancel.r", 10, 1, time.Now)
	if err := l.Wait(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Wait with a failing KV: %v, want %v", err, boom)
	}
	// Once the KV answers again, the limiter works again.
	kv.fail = nil
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestLimiterReadsAnUnknownValueAsFresh(t *testing.T) {
	kv := newMemKV()
	if _, err := kv.Put(context.Background(), "cancel.r", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	l := newLimiter(kv, "cancel.r", 10, 1, time.Now)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := l.Rate(); r != 10 {
		t.Errorf("rate %v, want 10", r)
	}
}
