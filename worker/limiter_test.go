package worker

import (
	"context"
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
			l := newLimiter(16, 1, clock.Now)
			if l.Rate() != 16 {
				t.Fatalf("initial rate = %v", l.Rate())
			}
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				switch s.op {
				case "throttled":
					l.Throttled()
				case "succeeded":
					l.Succeeded()
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
		l := newLimiter(16, 1, time.Now)
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
		l.Throttled()
		l.Throttled() // the same burst of answers: counts once
		if d := waits(8); d != time.Second {
			t.Errorf("8 waits after Throttling took %v, want 1s at 8/s", d)
		}
		l.Succeeded() // a second later: up by a quarter
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
