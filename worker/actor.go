package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// actor cancels claimed copies, one job at a time per handler: rate limit
// (the fleet's budget, limiter.go), call, classify, retry (retry.go), then
// the result into the claim, out as an event, and the copy out of the
// inventory. It keeps no state of its own: claims and budgets are in KV.
type actor struct {
	*base
	inv    *inventory
	claims claimStore
	// policies and batcher serve the re-check before a cancel
	// (recheck.go); batcher is nil without a Describer.
	policies func() *policy.Set
	batcher  *describeBatcher
}

func newActor(b *base, inv *inventory) *actor {
	return &actor{base: b, inv: inv, claims: claimStore{kv: b.cfg.Claims, now: b.cfg.Now}}
}

// HandleJob cancels one claimed copy: rate limit, call, classify, retry
// with backoff while it makes sense, then record the result in the claim,
// publish it, and ack. The claim is written before every call, so a
// replica that picks the job up after a crash knows whether a call may
// already have cancelled the copy.
func (a *actor) HandleJob(ctx context.Context, m Msg) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("job handler panic", zap.Any("panic", r), zap.Stack("stack"))
			v = nak(5*time.Second, fmt.Sprint("panic: ", r))
		}
	}()
	var j job
	if err := json.Unmarshal(m.Data, &j); err != nil || j.Copy.ImageID == "" {
		a.log.Error("malformed job dropped", zap.String("subject", m.Subject), zap.Error(err))
		return term("malformed job")
	}
	key := copyKey(j.Copy)
	log := a.log.With(zap.String("trigger_id", j.Trigger.ID), zap.String("image_id", j.Copy.ImageID), zap.String("region", j.Copy.Region))

	c := claim{Trigger: j.Trigger, Policies: j.Policies, ImageID: j.Copy.ImageID, Region: j.Copy.Region, State: stateDecided, Owner: a.cfg.Instance, DecidedAt: j.DecidedAt, Traceparent: j.Traceparent}
	rev := j.ClaimRev
	if m.Delivered > 1 {
		// A redelivery: an earlier attempt may have moved the claim on.
		var err error
		if c, rev, err = a.claims.load(ctx, key); err != nil {
			return a.claimLost(log, m, err)
		}
	}
	// spent is the time this delivery spent on failed calls and backoff:
	// waiting in the region's queue for a call slot is not a failure.
	var spent time.Duration
	lim := a.limits.get(apiCancel, j.Copy.Region)
	rechecked := false
	for {
		if c.State == stateDone {
			return a.finish(ctx, log, m, key, c)
		}
		if c.Trigger != j.Trigger {
			log.Error("claim belongs to another trigger; dropping job", zap.String("claim_trigger", c.Trigger.ID))
			return term("claim belongs to another trigger")
		}
		if p, paused := a.inv.Paused(); paused {
			return a.holdPaused(ctx, log, m, key, j.Copy, c, p)
		}
		br := a.breakers.get(j.Copy.Region)
		if st, err := br.state(ctx); err != nil {
			return retryLater(log, m, "read the region's circuit breaker", err)
		} else if st.Open {
			return a.holdOpen(ctx, log, m, key, j, c, rev, st)
		}
		if !rechecked {
			rechecked = true
			if v, done := a.recheck(ctx, log, m, key, j, c, rev); done {
				return v
			}
		}
		if err := lim.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nak(0, "shutting down")
			}
			return retryLater(log, m, "wait for the region's call budget", err)
		}
		unknown := c.Unknown || c.State == stateCalling
		c.State, c.Attempts, c.Owner, c.Unknown = stateCalling, c.Attempts+1, a.cfg.Instance, unknown
		newRev, err := a.claims.save(ctx, key, c, rev)
		if errors.Is(err, ErrConflict) {
			// Someone else moved the claim: read it and decide again.
			if c, rev, err = a.claims.load(ctx, key); err != nil {
				return a.claimLost(log, m, err)
			}
			if c.State != stateDone {
				return nak(2*time.Second, "claim is being worked on elsewhere")
			}
			continue
		}
		if err != nil {
			return retryLater(log, m, "save claim", err)
		}
		rev = newRev
		if c.Attempts == 1 {
			a.m.ToCallSeconds.Observe(a.cfg.Now().Sub(c.DecidedAt).Seconds())
		}
		callStart := a.cfg.Now()
		reqID, callErr := a.call(ctx, j.Copy)
		took := a.cfg.Now().Sub(callStart)
		a.health.record(apiCancel, j.Copy.Region, callErr, a.cfg.Now())
		next := a.cfg.Retry.afterCall(callErr, unknown, c.Failures, spent+took)
		code := errorCode(callErr)
		a.m.CancelCalls.WithLabelValues(a.labels.region(j.Copy.Region), a.labels.code(code)).Inc()
		if err := br.record(ctx, callErr); err != nil {
			log.Warn("update the region's circuit breaker", zap.Error(err))
		}
		if next.credential {
			// About the fleet's key, not the copy: never its outcome. The
			// call was refused, so nothing happened to the copy; back to
			// "decided", and held once the circuit opens.
			c.State = stateDecided
			if rev, err = a.claims.save(ctx, key, c, rev); err != nil {
				return retryLater(log, m, "save claim", err)
			}
			st, err := br.state(ctx)
			if err == nil && st.Open {
				return a.holdOpen(ctx, log, m, key, j, c, rev, st)
			}
			log.Warn("cancel refused: credential error; will retry", zap.String("code", code), zap.Error(callErr))
			return nak(a.cfg.BreakerProbe, "credential error: "+code)
		}
		a.adjust(ctx, log, lim, next)
		if next.failure {
			c.Failures++
			spent += took + next.delay
		}
		c.Unknown = next.unknown
		if next.retry {
			a.m.Retries.WithLabelValues(a.labels.region(j.Copy.Region), a.labels.code(code)).Inc()
			log.Info("cancel failed; retrying", zap.Int("attempt", c.Attempts), zap.String("code", code), zap.Duration("delay", next.delay), zap.Error(callErr))
			c.State = stateDecided
			if rev, err = a.claims.save(ctx, key, c, rev); err != nil {
				return retryLater(log, m, "save claim", err)
			}
			if !sleep(ctx, next.delay) {
				return nak(0, "shutting down")
			}
			continue
		}
		c.State, c.Result = stateDone, a.result(j, c, next, reqID, callErr)
		if _, err = a.claims.save(ctx, key, c, rev); err != nil {
			return retryLater(log, m, "save claim", err)
		}
		return a.finish(ctx, log, m, key, c)
	}
}

// adjust tells the region's budget how the call went: Throttling slows
// the whole fleet, a success lets it speed up again. A budget that cannot
// be written keeps its rate; the next call tries again.
func (a *actor) adjust(ctx context.Context, log *zap.Logger, lim *limiter, next step) {
	var err error
	switch {
	case next.throttled:
		err = lim.Throttled(ctx)
	case next.class == cloud.ClassNone:
		err = lim.Succeeded(ctx)
	}
	if err != nil {
		log.Warn("update the region's call budget", zap.Error(err))
	}
}

// result is the final result of a job whose last call ended in next.
func (a *actor) result(j job, c claim, next step, reqID string, callErr error) *event.Result {
	r := &event.Result{
		Trigger: j.Trigger, Outcome: string(next.outcome), Policies: j.Policies, ImageID: j.Copy.ImageID,
		Region: j.Copy.Region, SourceRegion: j.Copy.SourceRegion, Attempts: c.Attempts, RequestID: reqID,
		Final: true, DecidedAt: c.DecidedAt, FinishedAt: a.cfg.Now(), Instance: a.cfg.Instance,
	}
	if callErr != nil {
		r.ErrorCode, r.ErrorMessage = errorCode(callErr), callErr.Error()
		if ae := (*cloud.APIError)(nil); errors.As(callErr, &ae) {
			r.RequestID = ae.RequestID
		}
	}
	r.Reason = reason(next.outcome, next.class, c.Attempts)
	return r
}

// claimLost settles a job whose claim could not be read. A claim that is
// gone was released (held while paused, with the ack lost) or expired:
// the job is no longer this copy's decision, and retrying it would loop
// forever, so it is dropped. Any other error is retried.
func (a *actor) claimLost(log *zap.Logger, m Msg, err error) Verdict {
	if errors.Is(err, ErrNotFound) {
		log.Warn("claim released; dropping job", zap.Error(err))
		return term("claim released")
	}
	return retryLater(log, m, "load claim", err)
}

// finish publishes the result stored in a done claim and settles the job.
func (a *actor) finish(ctx context.Context, log *zap.Logger, m Msg, key string, c claim) Verdict {
	if c.Result == nil {
		log.Error("done claim without result", zap.String("key", key))
		return term("done claim without result")
	}
	if c.Result.Outcome != string(cloud.OutcomeFailed) {
		// The copy is no longer in flight: drop it from the shared
		// inventory now. If that fails (NATS is electing a leader) the job
		// comes back and tries again: dropped only from this replica's
		// mirror, the entry would stay in the bucket, where no reconcile
		// looks for it (they walk the mirror) and every other replica's
		// mirror still holds it.
		if err := a.inv.removeCopy(ctx, key); err != nil {
			return retryLater(log, m, "remove decided copy from inventory", err)
		}
	}
	if err := a.publishResultTraced(ctx, *c.Result, c.Traceparent); err != nil {
		return retryLater(log, m, "publish result", err)
	}
	log.Info("copy decided", zap.String("outcome", c.Result.Outcome), zap.Int("attempt", c.Result.Attempts),
		zap.String("request_id", c.Result.RequestID), zap.String("code", c.Result.ErrorCode))
	if c.Result.Outcome == string(cloud.OutcomeFailed) {
		return term("failed: " + c.Result.ErrorCode)
	}
	return ack()
}

// holdPaused reports a queued cancel as held and frees the claim, so a
// trigger after the pause is lifted can act on the copy again.
func (a *actor) holdPaused(ctx context.Context, log *zap.Logger, m Msg, key string, cp cloud.Copy, c claim, p PauseState) Verdict {
	r := event.Result{
		Trigger: c.Trigger, Outcome: string(cloud.OutcomeHeld), Policies: c.Policies, ImageID: cp.ImageID,
		Region: cp.Region, SourceRegion: cp.SourceRegion, Attempts: c.Attempts,
		Reason: "paused: " + p.Reason, DecidedAt: c.DecidedAt, FinishedAt: a.cfg.Now(), Instance: a.cfg.Instance,
	}
	if err := a.publishResultTraced(ctx, r, c.Traceparent); err != nil {
		return retryLater(log, m, "publish result", err)
	}
	if err := a.claims.release(ctx, key); err != nil {
		return retryLater(log, m, "release claim", err)
	}
	log.Info("copy held: paused")
	return ack()
}

// holdOpen keeps a cancel whose region's circuit is open: the first time,
// a held result with final false ("circuit open: <code>") and the claim
// marked so; every time, the job is handed back to come again after a
// probe interval. Once the circuit closes the job runs and ends with one
// final result.
func (a *actor) holdOpen(ctx context.Context, log *zap.Logger, m Msg, key string, j job, c claim, rev uint64, st breakerState) Verdict {
	why := st.heldReason()
	if c.HeldOpen == "" {
		r := event.Result{
			Trigger: c.Trigger, Policies: c.Policies, ImageID: j.Copy.ImageID, Region: j.Copy.Region,
			SourceRegion: j.Copy.SourceRegion, Attempts: c.Attempts, ErrorCode: st.Code, ErrorMessage: st.Message,
			Reason: why, DecidedAt: c.DecidedAt, FinishedAt: a.cfg.Now(), Instance: a.cfg.Instance,
		}
		if err := a.publishHeldOpen(ctx, r); err != nil {
			return retryLater(log, m, "publish result", err)
		}
		c.HeldOpen = st.Code
		if _, err := a.claims.save(ctx, key, c, rev); err != nil && !errors.Is(err, ErrConflict) {
			return retryLater(log, m, "save claim", err)
		}
		log.Warn("copy held: circuit open", zap.String("code", st.Code))
	}
	return nak(a.cfg.BreakerProbe, why)
}

// call makes one CancelCopyImage call. It is not cut short by shutdown:
// a call abandoned mid-flight would leave its outcome unknown.
func (a *actor) call(ctx context.Context, c cloud.Copy) (string, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	id, err := a.cfg.Canceller.CancelCopy(cctx, c.Region, c.ImageID)
	a.m.CallSeconds.WithLabelValues(a.labels.region(c.Region)).Observe(time.Since(start).Seconds())
	return id, err
}

// errorCode is the code a result and the metrics name an error by.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var ae *cloud.APIError
	if errors.As(err, &ae) {
		if ae.Code != "" {
			return ae.Code
		}
		return fmt.Sprintf("HTTP%d", ae.HTTPStatus)
	}
	var te *cloud.TransportError
	if errors.As(err, &te) {
		if te.Timeout {
			return "Timeout"
		}
		return "Transport"
	}
	if errors.Is(err, cloud.ErrMalformedResponse) {
		return "MalformedResponse"
	}
	return "Error"
}

// reason explains a final outcome in the result.
func reason(o cloud.Outcome, class cloud.Class, attempts int) string {
	switch o {
	case cloud.OutcomeCancelled:
		return "CancelCopyImage succeeded"
	case cloud.OutcomeAlreadyGone:
		return "the copy no longer exists"
	case cloud.OutcomeCompleted:
		return "the copy finished before the cancel arrived"
	case cloud.OutcomeNotCancellable:
		return "the API refused the cancel for a reason that will not change"
	case cloud.OutcomeFailed:
		if class == cloud.ClassRetryable {
			return fmt.Sprintf("retries exhausted after %d attempts", attempts)
		}
		return "permanent error"
	}
	return string(o)
}
