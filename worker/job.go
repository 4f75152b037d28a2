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
)

// Claim states. A claim is created "decided" with the decision, is
// "calling" while a CancelCopyImage request may be on the wire, and ends
// "done" with the result in it.
const (
	stateDecided = "decided"
	stateCalling = "calling"
	stateDone    = "done"
)

// claim is the value of a copy's key in the claims bucket. Whoever creates
// it owns the copy's decision: that is how one copy gets one result across
// replicas, triggers and restarts.
type claim struct {
	Trigger  event.TriggerRef `json:"trigger"`
	Policies []string         `json:"policies"`
	// The copy's identity only: the job carries the rest, and the claim is
	// rewritten before and after every call.
	ImageID  string `json:"image_id"`
	Region   string `json:"region"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	// Unknown: an earlier call may have cancelled the copy (it timed out,
	// the connection dropped, a 5xx), so NotFound now means cancelled.
	Unknown   bool          `json:"unknown,omitempty"`
	Owner     string        `json:"owner"`
	DecidedAt time.Time     `json:"decided_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Result    *event.Result `json:"result,omitempty"`
}

func (c claim) describe() string {
	if c.State == stateDone && c.Result != nil {
		return c.Result.Outcome
	}
	return c.State
}

// job is the durable unit of work for one copy to cancel.
type job struct {
	Trigger   event.TriggerRef `json:"trigger"`
	Policies  []string         `json:"policies"`
	Copy      cloud.Copy       `json:"copy"`
	ClaimRev  uint64           `json:"claim_rev"`
	DecidedAt time.Time        `json:"decided_at"`
}

func (w *Worker) loadClaim(ctx context.Context, key string) (claim, uint64, error) {
	val, rev, err := w.cfg.Claims.Get(ctx, key)
	if err != nil {
		return claim{}, 0, fmt.Errorf("read claim %s: %w", key, err)
	}
	var c claim
	if err := json.Unmarshal(val, &c); err != nil {
		return claim{}, 0, fmt.Errorf("read claim %s: %w", key, err)
	}
	return c, rev, nil
}

// saveClaim writes c if the claim is still at rev (compare-and-set).
func (w *Worker) saveClaim(ctx context.Context, key string, c claim, rev uint64) (uint64, error) {
	c.UpdatedAt = w.cfg.Now()
	val, _ := json.Marshal(c)
	return w.cfg.Claims.Update(ctx, key, val, rev)
}

// HandleJob cancels one claimed copy: rate limit, call, classify, retry
// with backoff while it makes sense, then record the result in the claim,
// publish it, and ack. The claim is written before every call, so a
// replica that picks the job up after a crash knows whether a call may
// already have cancelled the copy.
func (w *Worker) HandleJob(ctx context.Context, m Msg) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("job handler panic", zap.Any("panic", r), zap.Stack("stack"))
			v = nak(5*time.Second, fmt.Sprint("panic: ", r))
		}
	}()
	var j job
	if err := json.Unmarshal(m.Data, &j); err != nil || j.Copy.ImageID == "" {
		w.log.Error("malformed job dropped", zap.String("subject", m.Subject), zap.Error(err))
		return term("malformed job")
	}
	key := copyKey(j.Copy)
	log := w.log.With(zap.String("trigger_id", j.Trigger.ID), zap.String("image_id", j.Copy.ImageID), zap.String("region", j.Copy.Region))

	c := claim{Trigger: j.Trigger, Policies: j.Policies, ImageID: j.Copy.ImageID, Region: j.Copy.Region, State: stateDecided, Owner: w.cfg.Instance, DecidedAt: j.DecidedAt}
	rev := j.ClaimRev
	if m.Delivered > 1 {
		// A redelivery: an earlier attempt may have moved the claim on.
		var err error
		if c, rev, err = w.loadClaim(ctx, key); err != nil {
			return w.claimLost(log, m, err)
		}
	}
	start := w.cfg.Now()
	lim := w.limiter(j.Copy.Region)
	for {
		if c.State == stateDone {
			return w.finish(ctx, log, m, key, c)
		}
		if c.Trigger != j.Trigger {
			log.Error("claim belongs to another trigger; dropping job", zap.String("claim_trigger", c.Trigger.ID))
			return term("claim belongs to another trigger")
		}
		if p, paused := w.Paused(); paused {
			return w.holdPaused(ctx, log, m, key, j.Copy, c, p)
		}
		if err := lim.Wait(ctx); err != nil {
			return nak(0, "shutting down")
		}
		unknown := c.Unknown || c.State == stateCalling
		c.State, c.Attempts, c.Owner, c.Unknown = stateCalling, c.Attempts+1, w.cfg.Instance, unknown
		newRev, err := w.saveClaim(ctx, key, c, rev)
		if errors.Is(err, ErrConflict) {
			// Someone else moved the claim: read it and decide again.
			if c, rev, err = w.loadClaim(ctx, key); err != nil {
				return w.claimLost(log, m, err)
			}
			if c.State != stateDone {
				return nak(2*time.Second, "claim is being worked on elsewhere")
			}
			continue
		}
		if err != nil {
			return w.retryLater(log, m, "save claim", err)
		}
		rev = newRev
		if c.Attempts == 1 {
			w.m.ToCallSeconds.Observe(w.cfg.Now().Sub(c.DecidedAt).Seconds())
		}
		reqID, callErr := w.call(ctx, j.Copy)
		class, outcome := cloud.Classify(callErr)
		code := errorCode(callErr)
		w.m.CancelCalls.WithLabelValues(j.Copy.Region, code).Inc()
		switch class {
		case cloud.ClassNone:
			outcome = cloud.OutcomeCancelled
			lim.Succeeded()
		case cloud.ClassOutcome:
			if outcome == cloud.OutcomeAlreadyGone && unknown {
				// Our earlier call may have cancelled it (SPEC §6).
				outcome = cloud.OutcomeCancelled
			}
		case cloud.ClassRetryable:
			if errors.Is(callErr, cloud.ErrThrottled) {
				lim.Throttled()
			}
			c.Unknown = unknown || cloud.OutcomeUnknown(callErr)
			delay := backoff(w.cfg.Retry, c.Attempts-1)
			if c.Attempts < w.cfg.Retry.MaxAttempts && w.cfg.Now().Sub(start)+delay < w.cfg.Retry.MaxElapsed {
				w.m.Retries.WithLabelValues(j.Copy.Region, code).Inc()
				log.Info("cancel failed; retrying", zap.Int("attempt", c.Attempts), zap.String("code", code), zap.Duration("delay", delay), zap.Error(callErr))
				c.State = stateDecided
				if rev, err = w.saveClaim(ctx, key, c, rev); err != nil {
					return w.retryLater(log, m, "save claim", err)
				}
				if !sleep(ctx, delay) {
					return nak(0, "shutting down")
				}
				continue
			}
			outcome = cloud.OutcomeFailed
		default:
			outcome = cloud.OutcomeFailed
		}
		now := w.cfg.Now()
		r := &event.Result{
			Trigger: j.Trigger, Outcome: string(outcome), Policies: j.Policies, ImageID: j.Copy.ImageID,
			Region: j.Copy.Region, SourceRegion: j.Copy.SourceRegion, Attempts: c.Attempts, RequestID: reqID,
			DecidedAt: c.DecidedAt, FinishedAt: now, Instance: w.cfg.Instance,
		}
		if callErr != nil {
			r.ErrorCode, r.ErrorMessage = code, callErr.Error()
			if ae := (*cloud.APIError)(nil); errors.As(callErr, &ae) {
				r.RequestID = ae.RequestID
			}
		}
		r.Reason = reason(outcome, class, c.Attempts)
		c.State, c.Result = stateDone, r
		if _, err = w.saveClaim(ctx, key, c, rev); err != nil {
			return w.retryLater(log, m, "save claim", err)
		}
		return w.finish(ctx, log, m, key, c)
	}
}

// claimLost settles a job whose claim could not be read. A claim that is
// gone was released (held while paused, with the ack lost) or expired:
// the job is no longer this copy's decision, and retrying it would loop
// forever, so it is dropped. Any other error is retried.
func (w *Worker) claimLost(log *zap.Logger, m Msg, err error) Verdict {
	if errors.Is(err, ErrNotFound) {
		log.Warn("claim released; dropping job", zap.Error(err))
		return term("claim released")
	}
	return w.retryLater(log, m, "load claim", err)
}

// finish publishes the result stored in a done claim and settles the job.
func (w *Worker) finish(ctx context.Context, log *zap.Logger, m Msg, key string, c claim) Verdict {
	if c.Result == nil {
		log.Error("done claim without result", zap.String("key", key))
		return term("done claim without result")
	}
	if c.Result.Outcome != string(cloud.OutcomeFailed) {
		// The copy is no longer in flight: drop it from the inventory now
		// rather than at the next reconcile. A failure here only delays that.
		if err := w.cfg.Copies.Delete(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
			log.Warn("remove decided copy from inventory", zap.Error(err))
		}
		w.ApplyCopy(key, nil, true)
	}
	if err := w.publishResult(ctx, *c.Result); err != nil {
		return w.retryLater(log, m, "publish result", err)
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
func (w *Worker) holdPaused(ctx context.Context, log *zap.Logger, m Msg, key string, cp cloud.Copy, c claim, p PauseState) Verdict {
	now := w.cfg.Now()
	r := event.Result{
		Trigger: c.Trigger, Outcome: string(cloud.OutcomeHeld), Policies: c.Policies, ImageID: cp.ImageID,
		Region: cp.Region, SourceRegion: cp.SourceRegion, Attempts: c.Attempts,
		Reason: "paused: " + p.Reason, DecidedAt: c.DecidedAt, FinishedAt: now, Instance: w.cfg.Instance,
	}
	if err := w.publishResult(ctx, r); err != nil {
		return w.retryLater(log, m, "publish result", err)
	}
	if err := w.cfg.Claims.Delete(ctx, key); err != nil {
		return w.retryLater(log, m, "release claim", err)
	}
	log.Info("copy held: paused")
	return ack()
}

// call makes one CancelCopyImage call. It is not cut short by shutdown:
// a call abandoned mid-flight would leave its outcome unknown.
func (w *Worker) call(ctx context.Context, c cloud.Copy) (string, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	id, err := w.cfg.Canceller.CancelCopy(cctx, c.Region, c.ImageID)
	w.m.CallSeconds.WithLabelValues(c.Region).Observe(time.Since(start).Seconds())
	return id, err
}

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
