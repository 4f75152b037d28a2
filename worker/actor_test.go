package worker

import (
	"context"
	"errors"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

var (
	errThrottled   = &cloud.APIError{Code: "Throttling.User", HTTPStatus: 400, RequestID: "req-t", Message: "Request was denied due to user flow control."}
	errUnavailable = &cloud.APIError{Code: "ServiceUnavailable", HTTPStatus: 503, RequestID: "req-u"}
	errForbidden   = &cloud.APIError{Code: "Forbidden.RAM", HTTPStatus: 403, RequestID: "req-f", Message: "User not authorized to operate on the specified resource."}
	// errBadParam is permanent but not about credentials: the copy's outcome.
	errBadParam = &cloud.APIError{Code: "InvalidParameter", HTTPStatus: 400, RequestID: "req-p", Message: "The specified parameter is not valid."}
	errNotFound = &cloud.APIError{Code: "InvalidImageId.NotFound", HTTPStatus: 404, RequestID: "req-n", Message: "The specified ImageId does not exist."}
	errTimeout  = &cloud.TransportError{Op: "CancelCopyImage", Timeout: true, Err: context.DeadlineExceeded}
)

func TestHandleJob(t *testing.T) {
	ref := refOf("t-job", event.TypeBudgetExceeded)
	cp := inflight("cn-hangzhou", "m-job00001", map[string]string{"cost-center": "ml"})
	key := copyKey(cp)
	resultID := "result:cn-hangzhou.m-job00001:" + triggerKey(ref)
	doneResult := func(c *claim) {
		c.State = stateDone
		c.Attempts = 1
		c.Owner = "test-2"
		c.Result = &event.Result{Trigger: ref, Outcome: "cancelled", Policies: []string{"budget"}, ImageID: cp.ImageID,
			Region: cp.Region, SourceRegion: cp.SourceRegion, Attempts: 1, RequestID: "req-earlier", Instance: "test-2",
			DecidedAt: c.DecidedAt, FinishedAt: c.DecidedAt.Add(time.Second)}
	}

	tests := []struct {
		name      string
		errs      []error // the canceller's answers, in order; the last repeats
		adjust    func(*rig, *Config)
		before    func(t *testing.T, r *rig, m *Msg) // the state the job meets
		verdict   VerdictKind
		calls     int    // CancelCopyImage calls; -1: not counted
		outcome   string // of the one result published; "": none
		code      string // the result's error code, if checked
		copyGone  bool   // the copy left the inventory
		claimGone bool
		check     func(t *testing.T, r *rig, v Verdict)
	}{
		{
			name: "success", verdict: Ack, calls: 1, outcome: "cancelled", copyGone: true,
			check: func(t *testing.T, r *rig, _ Verdict) {
				c, _ := r.claim(t, key)
				if c.State != stateDone || c.Result == nil || c.Result.Outcome != "cancelled" || c.Attempts != 1 {
					t.Errorf("claim = %s attempts %d result %+v, want done after 1 attempt with cancelled", c.State, c.Attempts, c.Result)
				}
				if c.Result != nil && (c.Result.RequestID != "req-1" || c.Result.Instance != "test-1") {
					t.Errorf("result request id %q instance %q, want req-1 test-1", c.Result.RequestID, c.Result.Instance)
				}
			},
		},
		{
			name: "throttled then success", errs: []error{errThrottled, nil}, verdict: Ack, calls: 2, outcome: "cancelled", copyGone: true,
			check: func(t *testing.T, r *rig, _ Verdict) {
				if got := r.w.actor.limits.get(apiCancel, "cn-hangzhou").Rate(); got >= 1000 {
					t.Errorf("limiter rate = %v after Throttling, want it lowered from 1000", got)
				}
				if got := r.w.actor.limits.get(apiCancel, "cn-beijing").Rate(); got != 1000 {
					t.Errorf("another region's rate = %v, want 1000 untouched", got)
				}
				if c, _ := r.claim(t, key); c.Attempts != 2 || c.Result.Attempts != 2 {
					t.Errorf("attempts = %d (result %d), want 2", c.Attempts, c.Result.Attempts)
				}
			},
		},
		{
			// MaxAttempts is 5: throttling answered eight times in a row
			// uses none of them, since it is the limiter's signal.
			name:    "throttled more often than the attempts allow, then success",
			errs:    []error{errThrottled, errThrottled, errThrottled, errThrottled, errThrottled, errThrottled, errThrottled, errThrottled, nil},
			verdict: Ack, calls: 9, outcome: "cancelled", copyGone: true,
			check: func(t *testing.T, r *rig, _ Verdict) {
				if c, _ := r.claim(t, key); c.Attempts != 9 || c.Failures != 0 {
					t.Errorf("attempts %d failures %d, want 9 calls and no failure", c.Attempts, c.Failures)
				}
			},
		},
		{
			name: "permanent error", errs: []error{errBadParam}, verdict: Term, calls: 1, outcome: "failed", code: "InvalidParameter",
			check: func(t *testing.T, r *rig, v Verdict) {
				res := r.results(t)[0]
				if res.Reason != "permanent error" || res.RequestID != "req-p" || !strings.Contains(res.ErrorMessage, "not valid") || !res.Final {
					t.Errorf("result = %+v", res)
				}
				if !strings.Contains(v.Reason, "InvalidParameter") {
					t.Errorf("term reason = %q, want the code", v.Reason)
				}
			},
		},
		{
			// SPEC §11: a credential error is about the fleet's key, never
			// the copy's outcome. Below the breaker's threshold: no
			// result, the claim back to "decided", the job handed back.
			name: "credential error: no outcome, job handed back", errs: []error{errForbidden}, verdict: Nak, calls: 1,
			check: func(t *testing.T, r *rig, v Verdict) {
				if c, _ := r.claim(t, key); c.State != stateDecided || c.Result != nil || c.HeldOpen != "" {
					t.Errorf("claim = %+v, want decided without result", c)
				}
				if v.Delay != 30*time.Second || !strings.Contains(v.Reason, "Forbidden.RAM") {
					t.Errorf("verdict = %+v, want a nak after the probe interval naming the code", v)
				}
			},
		},
		{
			name: "retries exhausted", errs: []error{errUnavailable},
			adjust:  func(_ *rig, c *Config) { c.Retry.MaxAttempts = 3 },
			verdict: Term, calls: 3, outcome: "failed", code: "ServiceUnavailable",
			check: func(t *testing.T, r *rig, _ Verdict) {
				if res := r.results(t)[0]; res.Attempts != 3 || res.Reason != "retries exhausted after 3 attempts" {
					t.Errorf("result attempts %d reason %q", res.Attempts, res.Reason)
				}
			},
		},
		{
			name: "retry time exhausted", errs: []error{errUnavailable},
			adjust: func(r *rig, c *Config) {
				calls := r.calls.canceller()
				c.Canceller = CancellerFunc(func(ctx context.Context, region, id string) (string, error) {
					r.clock.Advance(2 * time.Minute) // past MaxElapsed
					return calls.CancelCopy(ctx, region, id)
				})
			},
			verdict: Term, calls: 1, outcome: "failed", code: "ServiceUnavailable",
		},
		{
			name: "not found on the first call is already gone", errs: []error{errNotFound},
			verdict: Ack, calls: 1, outcome: "already_gone", code: "InvalidImageId.NotFound", copyGone: true,
		},
		{
			name: "not found after a timeout in the same job is cancelled", errs: []error{errTimeout, errNotFound},
			verdict: Ack, calls: 2, outcome: "cancelled", copyGone: true,
			check: func(t *testing.T, r *rig, _ Verdict) {
				if c, _ := r.claim(t, key); !c.Unknown {
					t.Error("claim not marked unknown after a timeout")
				}
			},
		},
		{
			name: "not found on redelivery of a calling claim is cancelled", errs: []error{errNotFound},
			before: func(t *testing.T, r *rig, m *Msg) {
				// The first delivery saved "calling" and died mid-call.
				r.setClaim(t, key, func(c *claim) { c.State, c.Attempts = stateCalling, 1 })
				m.Delivered = 2
			},
			verdict: Ack, calls: 1, outcome: "cancelled", copyGone: true,
			check: func(t *testing.T, r *rig, _ Verdict) {
				if c, _ := r.claim(t, key); c.Attempts != 2 || !c.Unknown {
					t.Errorf("claim attempts %d unknown %v, want 2 and true", c.Attempts, c.Unknown)
				}
			},
		},
		{
			name: "done claim on redelivery: no call, result published again",
			before: func(t *testing.T, r *rig, m *Msg) {
				r.setClaim(t, key, doneResult)
				m.Delivered = 2
			},
			verdict: Ack, calls: 0, outcome: "cancelled", copyGone: true,
			check: func(t *testing.T, r *rig, _ Verdict) {
				if res := r.results(t)[0]; res.RequestID != "req-earlier" {
					t.Errorf("re-published result has request id %q, want the stored req-earlier", res.RequestID)
				}
			},
		},
		{
			name: "claim revision conflict: another replica is calling",
			before: func(t *testing.T, r *rig, _ *Msg) {
				r.setClaim(t, key, func(c *claim) { c.State, c.Attempts, c.Owner = stateCalling, 1, "test-2" })
			},
			verdict: Nak, calls: 0,
			check: func(t *testing.T, r *rig, v Verdict) {
				if v.Delay <= 0 {
					t.Errorf("nak delay = %v, want > 0", v.Delay)
				}
				if c, _ := r.claim(t, key); c.Owner != "test-2" || c.Attempts != 1 {
					t.Errorf("claim changed: owner %s attempts %d", c.Owner, c.Attempts)
				}
			},
		},
		{
			name: "claim revision conflict: another replica finished",
			before: func(t *testing.T, r *rig, _ *Msg) {
				r.setClaim(t, key, doneResult)
			},
			verdict: Ack, calls: 0, outcome: "cancelled", copyGone: true,
		},
		{
			name: "paused: held and claim released",
			before: func(t *testing.T, r *rig, _ *Msg) {
				r.w.ApplyControl(PauseKey, []byte(`{"paused":true,"reason":"maintenance"}`), false)
			},
			verdict: Ack, calls: 0, outcome: "held", claimGone: true,
			check: func(t *testing.T, r *rig, _ Verdict) {
				if res := r.results(t)[0]; res.Reason != "paused: maintenance" {
					t.Errorf("held reason = %q", res.Reason)
				}
				if _, ok := r.w.inv.index.Get(cp.Region, cp.ImageID); !ok {
					t.Error("a held copy left the inventory")
				}
			},
		},
		{
			name: "claim released before a redelivery: dropped, no call",
			before: func(t *testing.T, r *rig, m *Msg) {
				// Held while paused: the claim was deleted, but the ack was lost.
				if err := r.claims.Delete(testCtx, key); err != nil {
					t.Fatal(err)
				}
				m.Delivered = 2
			},
			verdict: Term, calls: 0, claimGone: true,
		},
		{
			name: "claim taken by another trigger before a redelivery: dropped, no call",
			before: func(t *testing.T, r *rig, m *Msg) {
				r.setClaim(t, key, func(c *claim) { c.Trigger = refOf("t-other", event.TypeCancelRequested) })
				m.Delivered = 2
			},
			verdict: Term, calls: 0,
		},
		{
			name: "panicking canceller",
			adjust: func(_ *rig, c *Config) {
				c.Canceller = CancellerFunc(func(context.Context, string, string) (string, error) { panic("sdk bug") })
			},
			verdict: Nak, calls: -1,
			check: func(t *testing.T, r *rig, v Verdict) {
				if v.Delay <= 0 || !strings.Contains(v.Reason, "sdk bug") {
					t.Errorf("verdict = %+v, want a delayed nak naming the panic", v)
				}
				// The call may have gone out: a redelivery must treat NotFound as cancelled.
				if c, _ := r.claim(t, key); c.State != stateCalling {
					t.Errorf("claim state = %s, want calling", c.State)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var adjust []func(*rig, *Config)
			if tt.adjust != nil {
				adjust = append(adjust, tt.adjust)
			}
			r := newRig(t, adjust...)
			r.calls.errs = tt.errs
			if err := r.w.inv.putCopy(testCtx, cp); err != nil {
				t.Fatal(err)
			}
			m := r.queue(t, ref, cp)
			if tt.before != nil {
				tt.before(t, r, &m)
			}

			v := r.w.HandleJob(testCtx, m)

			if v.Kind != tt.verdict {
				t.Errorf("verdict = %v (%s), want %v", v.Kind, v.Reason, tt.verdict)
			}
			if tt.calls >= 0 && r.calls.count() != tt.calls {
				t.Errorf("CancelCopyImage calls = %d, want %d", r.calls.count(), tt.calls)
			}
			results := r.results(t)
			switch {
			case tt.outcome == "" && len(results) != 0:
				t.Errorf("published %d results, want none: %+v", len(results), results)
			case tt.outcome != "" && len(results) != 1:
				t.Fatalf("published %d results, want 1: %+v", len(results), results)
			case tt.outcome != "":
				res, p := results[0], r.pub.with("copyguard.result.")[0]
				if res.Outcome != tt.outcome {
					t.Errorf("outcome = %s (%s, %s), want %s", res.Outcome, res.ErrorCode, res.Reason, tt.outcome)
				}
				if want := resultID + ":" + tt.outcome; p.MsgID != want {
					t.Errorf("result msg id = %q, want %q", p.MsgID, want)
				}
				if res.Trigger != ref || res.ImageID != cp.ImageID || res.Region != cp.Region || res.SourceRegion != "cn-beijing" {
					t.Errorf("result names the wrong copy or trigger: %+v", res)
				}
				if err := res.Validate(); err != nil {
					t.Errorf("result does not validate: %v", err)
				}
				if tt.code != "" && res.ErrorCode != tt.code {
					t.Errorf("error code = %q, want %q", res.ErrorCode, tt.code)
				}
			}
			if _, _, err := r.copies.Get(testCtx, key); (err == nil) == tt.copyGone {
				t.Errorf("copy in inventory bucket: %v, want gone=%v", err == nil, tt.copyGone)
			}
			if _, ok := r.w.Inventory().Get(cp.Region, cp.ImageID); ok == tt.copyGone {
				t.Errorf("copy in the in-memory index: %v, want gone=%v", ok, tt.copyGone)
			}
			if _, ok := r.claim(t, key); ok == tt.claimGone {
				t.Errorf("claim present = %v, want gone=%v", ok, tt.claimGone)
			}
			if tt.check != nil {
				tt.check(t, r, v)
			}
		})
	}
}

func TestHandleJobMalformed(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"not json", "{cancel it"},
		{"empty object", "{}"},
		{"no image id", `{"copy":{"region":"cn-hangzhou"},"claim_rev":1}`},
		{"wrong shape", `{"copy":"m-job00001"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			v := r.w.HandleJob(testCtx, Msg{Subject: "copyguard.job.cn-hangzhou", Data: []byte(tt.data), Delivered: 1, InProgress: func() {}})
			if v.Kind != Term {
				t.Errorf("verdict = %v, want term", v.Kind)
			}
			if r.calls.count() != 0 || len(r.pub.all()) != 0 || len(r.claims.keys()) != 0 {
				t.Errorf("a malformed job acted: %d calls, %d publishes, claims %v", r.calls.count(), len(r.pub.all()), r.claims.keys())
			}
		})
	}
}

// TestHandleJobResultPublishFails checks that a result that could not be
// published is published by the redelivery, without a second call.
func TestHandleJobResultPublishFails(t *testing.T) {
	r := newRig(t)
	ref := refOf("t-pub", event.TypeBudgetExceeded)
	cp := inflight("cn-hangzhou", "m-job00002", nil)
	m := r.queue(t, ref, cp)
	r.pub.fail = func(subject, _ string) error {
		if strings.HasPrefix(subject, "copyguard.result.") {
			return errBoom
		}
		return nil
	}
	if v := r.w.HandleJob(testCtx, m); v.Kind != Nak {
		t.Fatalf("verdict = %v, want nak while results cannot be published", v.Kind)
	}
	r.pub.fail = nil
	m.Delivered = 2
	if v := r.w.HandleJob(testCtx, m); v.Kind != Ack {
		t.Fatalf("redelivery verdict = %v (%s), want ack", v.Kind, v.Reason)
	}
	if r.calls.count() != 1 {
		t.Errorf("CancelCopyImage calls = %d, want 1", r.calls.count())
	}
	if res := r.results(t); len(res) != 1 || res[0].Outcome != "cancelled" {
		t.Errorf("results = %+v, want one cancelled", res)
	}
}

// TestHandleJobClaimSavedBeforeCall checks the order that makes a crash
// safe: the claim says "calling" while the request is on the wire.
func TestHandleJobClaimSavedBeforeCall(t *testing.T) {
	var r *rig
	cp := inflight("cn-hangzhou", "m-job00003", nil)
	var seen claim
	r = newRig(t, func(_ *rig, c *Config) {
		c.Canceller = CancellerFunc(func(context.Context, string, string) (string, error) {
			val, _, err := r.claims.Get(testCtx, copyKey(cp))
			if err == nil {
				err = json.Unmarshal(val, &seen)
			}
			return "req-1", err
		})
	})
	m := r.queue(t, refOf("t-order", event.TypeBudgetExceeded), cp)
	if v := r.w.HandleJob(testCtx, m); v.Kind != Ack {
		t.Fatalf("verdict = %v (%s)", v.Kind, v.Reason)
	}
	if seen.State != stateCalling || seen.Attempts != 1 || seen.Owner != "test-1" {
		t.Errorf("claim during the call = %s attempt %d owner %s, want calling 1 test-1", seen.State, seen.Attempts, seen.Owner)
	}
}

// TestFinishRetriesTheInventoryRemoval: a settled copy whose removal from
// the copies bucket fails is not dropped from this replica's mirror only
// (the bucket entry would outlive it, unseen by any reconcile): the job
// comes back, and the redelivery removes it and publishes the result.
func TestFinishRetriesTheInventoryRemoval(t *testing.T) {
	r := newRig(t)
	cp := inflight("cn-hangzhou", "m-rm000001", map[string]string{"cost-center": "a"})
	if err := r.w.inv.putCopy(testCtx, cp); err != nil {
		t.Fatal(err)
	}
	down := errors.New("nats: no response from stream")
	r.copies.fail = func(op, key string) error {
		if op == "delete" {
			return down
		}
		return nil
	}
	m := r.queue(t, refOf("b-rm", "budget.exceeded"), cp)
	if v := r.w.HandleJob(testCtx, m); v.Kind != Nak || !strings.Contains(v.Reason, "remove decided copy from inventory") {
		t.Fatalf("verdict %v %q, want a nak for the failed removal", v.Kind, v.Reason)
	}
	if _, ok := r.w.inv.index.Get(cp.Region, cp.ImageID); !ok {
		t.Error("the copy left the mirror while it stays in the bucket")
	}
	if n := len(r.results(t)); n != 0 {
		t.Errorf("%d results before the removal, want 0", n)
	}
	r.copies.fail = nil
	m.Delivered = 2
	if v := r.w.HandleJob(testCtx, m); v.Kind != Ack {
		t.Fatalf("redelivery: %v %q", v.Kind, v.Reason)
	}
	if _, ok := r.copies.entry(copyKey(cp)); ok {
		t.Error("the copy is still in the bucket")
	}
	if rs := r.results(t); len(rs) != 1 || rs[0].Outcome != "cancelled" || r.calls.count() != 1 {
		t.Errorf("results %+v after %d calls, want one cancelled after one call", rs, r.calls.count())
	}
}
