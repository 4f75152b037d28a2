package worker

import (
	"testing"
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

func TestBackoff(t *testing.T) {
	const draws = 2000
	tests := []struct {
		name    string
		p       RetryPolicy
		attempt int
		ceiling time.Duration
	}{
		{"first attempt", RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second}, 0, 100 * time.Millisecond},
		{"doubles per attempt", RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second}, 3, 800 * time.Millisecond},
		{"capped at max", RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second}, 10, 10 * time.Second},
		{"a huge attempt does not overflow", RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second}, 1000, 10 * time.Second},
		{"a shift that overflows falls back to max", RetryPolicy{BaseDelay: time.Duration(1) << 50, MaxDelay: time.Minute}, 20, time.Minute},
		{"base above max", RetryPolicy{BaseDelay: time.Minute, MaxDelay: time.Second}, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := tt.ceiling, time.Duration(0)
			for range draws {
				d := backoff(tt.p, tt.attempt)
				if d < 0 || d > tt.ceiling {
					t.Fatalf("backoff = %v, want in [0, %v]", d, tt.ceiling)
				}
				lo, hi = min(lo, d), max(hi, d)
			}
			// Full jitter spreads over the whole range; with 2000 uniform
			// draws the chance of missing either quarter is about 2^-830.
			if lo > tt.ceiling/4 || hi < tt.ceiling*3/4 {
				t.Errorf("draws span [%v, %v], want them spread over [0, %v]", lo, hi, tt.ceiling)
			}
		})
	}
}
