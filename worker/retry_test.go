package worker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

func TestAfterCall(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 3, MaxElapsed: time.Minute, BaseDelay: time.Second, MaxDelay: 4 * time.Second}
	tests := []struct {
		name     string
		err      error
		unknown  bool
		failures int // before this call
		spent    time.Duration
		want     step // delay is checked against its ceiling, not equality
		ceiling  time.Duration
	}{
		{name: "success",
			want: step{class: cloud.ClassNone, outcome: cloud.OutcomeCancelled}},
		{name: "success keeps unknown", unknown: true, failures: 1,
			want: step{class: cloud.ClassNone, outcome: cloud.OutcomeCancelled, unknown: true}},
		{name: "not found is already gone", err: errNotFound,
			want: step{class: cloud.ClassOutcome, outcome: cloud.OutcomeAlreadyGone}},
		{name: "not found after an unknown call is cancelled", err: errNotFound, unknown: true, failures: 1,
			want: step{class: cloud.ClassOutcome, outcome: cloud.OutcomeCancelled, unknown: true}},
		{name: "permanent fails at once", err: errBadParam,
			want: step{class: cloud.ClassPermanent, outcome: cloud.OutcomeFailed}},
		{name: "a credential error is no outcome", err: errForbidden,
			want: step{class: cloud.ClassPermanent, credential: true}},
		{name: "a credential error keeps an unknown outcome", err: errForbidden, unknown: true, failures: 1,
			want: step{class: cloud.ClassPermanent, credential: true, unknown: true}},
		{name: "throttled retries at once; a refused call leaves the outcome known", err: errThrottled,
			want: step{class: cloud.ClassRetryable, retry: true, throttled: true}},
		{name: "throttling never spends the budget", err: errThrottled, failures: 2, spent: time.Hour,
			want: step{class: cloud.ClassRetryable, retry: true, throttled: true}},
		{name: "throttling keeps an unknown outcome", err: errThrottled, unknown: true,
			want: step{class: cloud.ClassRetryable, retry: true, throttled: true, unknown: true}},
		{name: "a 5xx retries and makes the outcome unknown", err: errUnavailable, failures: 1,
			want: step{class: cloud.ClassRetryable, retry: true, unknown: true, failure: true}, ceiling: 2 * time.Second},
		{name: "a timeout retries and makes the outcome unknown", err: errTimeout,
			want: step{class: cloud.ClassRetryable, retry: true, unknown: true, failure: true}, ceiling: time.Second},
		{name: "attempts spent", err: errUnavailable, failures: 2,
			want: step{class: cloud.ClassRetryable, outcome: cloud.OutcomeFailed, unknown: true, failure: true}},
		{name: "time spent", err: errUnavailable, spent: time.Minute,
			want: step{class: cloud.ClassRetryable, outcome: cloud.OutcomeFailed, unknown: true, failure: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.afterCall(tt.err, tt.unknown, tt.failures, tt.spent)
			if got.delay < 0 || got.delay > tt.ceiling {
				t.Errorf("delay = %v, want in [0, %v]", got.delay, tt.ceiling)
			}
			got.delay = 0
			if got != tt.want {
				t.Errorf("afterCall = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestClaimStateJSON fixes the claim states' stored form: claims written
// by an older worker must read back the same.
func TestClaimStateJSON(t *testing.T) {
	for _, tt := range []struct {
		s    claimState
		json string
	}{
		{stateDecided, `"decided"`},
		{stateCalling, `"calling"`},
		{stateDone, `"done"`},
	} {
		t.Run(tt.json, func(t *testing.T) {
			b, err := json.Marshal(tt.s)
			if err != nil || string(b) != tt.json {
				t.Errorf("marshal = %s, %v; want %s", b, err, tt.json)
			}
			var back claimState
			if err := json.Unmarshal(b, &back); err != nil || back != tt.s {
				t.Errorf("unmarshal %s = %v, %v", b, back, err)
			}
			if tt.s.String() != strings.Trim(tt.json, `"`) {
				t.Errorf("String = %q", tt.s.String())
			}
		})
	}
	if got := claimState("lost").String(); got != `claimState("lost")` {
		t.Errorf("unknown state String = %q", got)
	}
	stored := `{"trigger":{"id":"t-1","type":"budget.exceeded","source":"test"},"policies":["budget"],"image_id":"m-1",` +
		`"region":"cn-hangzhou","state":"calling","attempts":2,"unknown":true,"owner":"a","decided_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:01Z"}`
	var c claim
	if err := json.Unmarshal([]byte(stored), &c); err != nil {
		t.Fatal(err)
	}
	if c.State != stateCalling || c.Attempts != 2 || !c.Unknown || c.Trigger != (event.TriggerRef{ID: "t-1", Type: "budget.exceeded", Source: "test"}) {
		t.Errorf("stored claim read as %+v", c)
	}
	again, _ := json.Marshal(c)
	if string(again) != stored {
		t.Errorf("claim written back as\n%s\nwant\n%s", again, stored)
	}
}

func TestRetryLater(t *testing.T) {
	for delivered := 1; delivered <= 8; delivered++ {
		v := retryLater(zap.NewNop(), Msg{Delivered: delivered}, "publish result", errBoom)
		if v.Kind != Nak || v.Delay < 0 || v.Delay > retryCap(delivered) {
			t.Errorf("delivered %d: verdict %+v, want a nak within %v", delivered, v, retryCap(delivered))
		}
		if v.Reason != "publish result: boom" {
			t.Errorf("reason = %q", v.Reason)
		}
	}
}

// TestSleep runs in a synctest bubble: the clock moves only when every
// goroutine waits, so the durations are exact.
func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !sleep(t.Context(), 3*time.Second) {
			t.Fatal("sleep ended early")
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("slept %v, want 3s", d)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start = time.Now()
		if sleep(ctx, time.Hour) {
			t.Fatal("sleep outlived its context")
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("sleep returned after %v, want 1s, when the context ended", d)
		}
	})
}

// TestHandleJobSleepsBackoff checks in fake time that the retries of one
// job wait their backoff, each within its ceiling, and that the retry
// time budget is counted against the clock.
func TestHandleJobSleepsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []time.Time
		r := newRig(t, func(r *rig, c *Config) {
			c.Now = time.Now // the bubble's clock
			c.Retry = RetryPolicy{MaxAttempts: 10, MaxElapsed: time.Hour, BaseDelay: time.Second, MaxDelay: 4 * time.Second}
			inner := r.calls.canceller()
			c.Canceller = CancellerFunc(func(ctx context.Context, region, id string) (string, error) {
				calls = append(calls, time.Now())
				return inner.CancelCopy(ctx, region, id)
			})
		})
		r.calls.errs = []error{errUnavailable, errUnavailable, errUnavailable, nil}
		m := r.queue(t, refOf("t-sleep", event.TypeBudgetExceeded), inflight("cn-hangzhou", "m-slep0001", nil))
		if v := r.w.HandleJob(t.Context(), m); v.Kind != Ack {
			t.Fatalf("verdict = %+v", v)
		}
		if len(calls) != 4 {
			t.Fatalf("%d calls, want 4", len(calls))
		}
		for i, ceiling := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			if gap := calls[i+1].Sub(calls[i]); gap < 0 || gap > ceiling {
				t.Errorf("wait before call %d = %v, want in [0, %v]", i+2, gap, ceiling)
			}
		}
	})
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(_ *rig, c *Config) {
			c.Now = time.Now
			// Each delay is up to 40s; no sleep may end past MaxElapsed.
			c.Retry = RetryPolicy{MaxAttempts: 10, MaxElapsed: 100 * time.Second, BaseDelay: 40 * time.Second, MaxDelay: 40 * time.Second}
		})
		r.calls.errs = []error{errUnavailable}
		m := r.queue(t, refOf("t-budget", event.TypeBudgetExceeded), inflight("cn-hangzhou", "m-budg0001", nil))
		start := time.Now()
		v := r.w.HandleJob(t.Context(), m)
		if v.Kind != Term {
			t.Fatalf("verdict = %+v, want term once the time budget is spent", v)
		}
		if d := time.Since(start); d > 100*time.Second {
			t.Errorf("job ran %v, past its 100s budget", d)
		}
		if res := r.results(t); len(res) != 1 || res[0].Outcome != "failed" || res[0].Attempts != r.calls.count() {
			t.Errorf("results = %+v after %d calls", res, r.calls.count())
		}
	})
}

// TestHandleJobShutdownDuringBackoff ends the context while a retry waits:
// the job goes back to the queue at once, and the claim remembers that the
// failed call may have gone through. It runs in a synctest bubble, so "at
// once" means no time passes, and a handler that kept waiting out its
// hour of backoff would meet the 10s bound first.
func TestHandleJobShutdownDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := newRig(t, func(r *rig, c *Config) {
			c.Retry.BaseDelay, c.Retry.MaxDelay, c.Retry.MaxElapsed = time.Hour, time.Hour, 24*time.Hour
			calls := r.calls.canceller()
			c.Canceller = CancellerFunc(func(cctx context.Context, region, id string) (string, error) {
				if cctx.Err() != nil {
					t.Error("the call's context ended with the handler's: an in-flight call would be cut")
				}
				cancel() // SIGTERM arrives while the call is on the wire
				return calls.CancelCopy(cctx, region, id)
			})
		})
		r.calls.errs = []error{errUnavailable}
		cp := inflight("cn-hangzhou", "m-job00004", nil)
		m := r.queue(t, refOf("t-stop", event.TypeBudgetExceeded), cp)

		start := time.Now()
		done := make(chan Verdict, 1)
		go func() { done <- r.w.HandleJob(ctx, m) }()
		var v Verdict
		select {
		case v = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("HandleJob kept waiting out its backoff after the context ended")
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("HandleJob returned after %v of backoff, want at once", d)
		}
		if v.Kind != Nak || v.Delay != 0 {
			t.Errorf("verdict = %+v, want an immediate nak", v)
		}
		c, _ := r.claim(t, copyKey(cp))
		if c.State != stateDecided || c.Attempts != 1 || !c.Unknown {
			t.Errorf("claim = %s attempts %d unknown %v, want decided, 1, true", c.State, c.Attempts, c.Unknown)
		}
		if n := len(r.pub.with("copyguard.result.")); n != 0 {
			t.Errorf("published %d results for an unfinished job", n)
		}
	})
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
