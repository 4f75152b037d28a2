package worker

// The retry state machine of one copy's cancel, all of it in this file.
//
// A copy's claim (claims bucket, key copyKey) says how far its cancel got:
//
//	decider ─Create─► decided ──actor saves before the call──► calling ──CancelCopyImage──┐
//	                     ▲                                                                │
//	                     │ retryable, budget left: save "decided", sleep backoff   afterCall(answer)
//	                     └────────────────────────────────────────────────────────────────┤
//	                                 success, outcome, permanent, or budget spent         ▼
//	                                      done (result in the claim) ─► publish result ─► Ack
//	                                                                       (Term when failed)
//
//	calling ──credential error──► decided, Nak(BreakerProbe); once the region's circuit is
//	decided ──circuit open──────► open: held (final false, once per claim), Nak(BreakerProbe)
//
// afterCall sorts the answer by cloud.Classify:
//
//	none       success: cancelled; the region's rate creeps back up
//	outcome    the answer settles the copy: already_gone, completed, not_cancellable
//	throttled  not a failure: the fleet's rate for the region halves
//	           (limiter.go) and the call waits for its next slot
//	retryable  5xx, timeout, transport: a failure; back off and try again
//	permanent  failed: bad parameters, unknown region; retrying cannot help
//	credential a permanent error about the fleet's key (cloud.IsCredentialError):
//	           never the copy's outcome; it counts towards the region's
//	           circuit breaker (breaker.go) and the job is handed back
//
// Unknown outcome: a call that timed out, dropped or got a 5xx may have
// cancelled the copy anyway, and so may a call the process died in (a
// redelivery finds the claim "calling"). The claim remembers it
// (Unknown), and from then on NotFound means cancelled, not already_gone
// (SPEC §6).
//
// Two retries for two kinds of failure:
//
//   - The cloud call failed retryably: retry in process, sleeping
//     backoff(failures), while failures < MaxAttempts and the time spent
//     on failures and backoff + the next delay < MaxElapsed; then failed.
//     Throttling is no failure and waiting for a call slot is no time
//     spent: a slow API delays a cancel, it does not fail it. Attempts
//     (calls) and failures live in the claim and survive redelivery; the
//     time spent counts from this delivery.
//   - A dependency failed (claims bucket, publish): retryLater hands the
//     message back with NakWithDelay(backoff(delivered)), at most 10s.
//     Nothing is wrong with the input; the redelivery resumes from the
//     claim.
//
// Other ways out of the loop, each settled in actor.go:
//
//   - the region's circuit open (breaker.go), checked before the call:
//     publish held with final false once (the claim's HeldOpen), Nak
//     after BreakerProbe, and call once it has closed;
//   - paused: publish held, delete (release) the claim, Ack, so a trigger
//     after the pause may claim the copy again;
//   - a claim conflict (another replica moved it): reread; done → publish
//     its result; otherwise Nak after 2s;
//   - the claim gone on redelivery (released) or held by another trigger:
//     Term, no call;
//   - shutdown while waiting on the limiter or a backoff: Nak(0). A call
//     already on the wire is never cut (its outcome would be unknown).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
)

// claimState is where a copy's claim is in the state machine above. Its
// JSON form is the plain string, as stored claims have always held it.
type claimState string

const (
	stateDecided claimState = "decided" // claimed; no call on the wire
	stateCalling claimState = "calling" // a CancelCopyImage call may be on the wire
	stateDone    claimState = "done"    // the result is in the claim
)

func (s claimState) String() string {
	switch s {
	case stateDecided, stateCalling, stateDone:
		return string(s)
	}
	return fmt.Sprintf("claimState(%q)", string(s))
}

// RetryPolicy bounds the retries of one copy's cancel.
type RetryPolicy struct {
	MaxAttempts int
	MaxElapsed  time.Duration
	BaseDelay   time.Duration
	MaxDelay    time.Duration
}

// DefaultRetry is used for zero fields of Config.Retry.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 8, MaxElapsed: 2 * time.Minute, BaseDelay: 200 * time.Millisecond, MaxDelay: 20 * time.Second}
}

// withDefaults fills the zero fields of p from DefaultRetry.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetry()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	return p
}

// step is the way out of "calling" that afterCall chose.
type step struct {
	class     cloud.Class
	outcome   cloud.Outcome // the final outcome; "" when retry
	unknown   bool          // a call so far may have cancelled the copy
	retry     bool          // back to "decided": sleep delay, then call again
	delay     time.Duration
	throttled bool // the API answered Throttling: the limiter's signal
	failure   bool // a retryable failure that counts against the budget
	// credential: the API refused the fleet's key (cloud.IsCredentialError).
	// Not the copy's outcome: back to "decided", the job handed back, and
	// held while the region's circuit is open (breaker.go).
	credential bool
}

// afterCall is the transition out of "calling": given the call's error,
// whether an earlier call may have cancelled the copy, the failures before
// this call and the time spent on failures in this delivery, it returns
// the final outcome or a retry after a delay.
func (p RetryPolicy) afterCall(callErr error, unknown bool, failures int, spent time.Duration) step {
	class, outcome := cloud.Classify(callErr)
	s := step{class: class, unknown: unknown}
	switch class {
	case cloud.ClassNone:
		s.outcome = cloud.OutcomeCancelled
	case cloud.ClassOutcome:
		s.outcome = outcome
		if outcome == cloud.OutcomeAlreadyGone && unknown {
			// Our earlier call may have cancelled it (SPEC §6).
			s.outcome = cloud.OutcomeCancelled
		}
	case cloud.ClassRetryable:
		s.unknown = unknown || cloud.OutcomeUnknown(callErr)
		if errors.Is(callErr, cloud.ErrThrottled) {
			// Not a failure: the API asks the fleet to slow down. The
			// limiter has halved the region's rate; the next call waits
			// for it, however long the queue, and uses up no attempt.
			s.retry, s.throttled = true, true
			return s
		}
		s.failure = true
		delay := backoff(p, failures)
		if failures+1 < p.MaxAttempts && spent+delay < p.MaxElapsed {
			s.retry, s.delay = true, delay
			return s
		}
		s.outcome = cloud.OutcomeFailed
	case cloud.ClassPermanent:
		if cloud.IsCredentialError(callErr) {
			s.credential = true
			return s
		}
		s.outcome = cloud.OutcomeFailed
	default:
		s.outcome = cloud.OutcomeFailed
	}
	return s
}

// backoff is "full jitter": a random delay in [0, min(max, base*2^n)).
func backoff(p RetryPolicy, attempt int) time.Duration {
	d := p.BaseDelay << min(attempt, 20)
	if d <= 0 || d > p.MaxDelay {
		d = p.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// retryLater hands a message back when a dependency (NATS, KV) failed:
// nothing about the input is wrong, so it must not be dropped.
func retryLater(log *zap.Logger, m Msg, what string, err error) Verdict {
	d := backoff(RetryPolicy{BaseDelay: 250 * time.Millisecond, MaxDelay: 10 * time.Second}, m.Delivered)
	log.Warn(what+" failed; will retry", zap.Error(err), zap.Int("delivered", m.Delivered), zap.Duration("delay", d))
	return nak(d, what+": "+err.Error())
}

// sleep waits d, or less if ctx ends first; it reports whether it waited
// the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
