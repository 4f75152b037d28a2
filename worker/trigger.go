package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// HandleTrigger decides one trigger: decode and validate it (bad input is
// published to <prefix>.rejected and acked), evaluate the policies against
// the inventory, claim each copy to cancel and store a job for it, publish
// the other results and the decision, and only then ack.
func (w *Worker) HandleTrigger(ctx context.Context, m Msg) (v Verdict) {
	defer w.recoverPanic(ctx, m, "trigger", &v)
	start := time.Now()
	ev, err := event.Decode(m.Data, w.cfg.MaxBodySize)
	if err == nil {
		err = event.CheckSubject(ev, m.Subject, w.cfg.Prefix)
	}
	var data map[string]any
	if err == nil {
		data, _, err = event.DecodeTrigger(ev)
	}
	if err != nil {
		return w.reject(ctx, m, "trigger", err)
	}
	t := policy.Trigger{ID: ev.ID, Type: ev.Type, Source: ev.Source, Subject: ev.Subject, Time: ev.Time, Data: data}
	ref := event.TriggerRef{ID: ev.ID, Type: ev.Type, Source: ev.Source}
	now := w.cfg.Now()
	// Built only when something is logged: most triggers log nothing.
	log := func() *zap.Logger {
		return w.log.With(zap.String("trigger_id", ev.ID), zap.String("trigger_type", ev.Type))
	}

	if err := w.releaseConditions(ctx, t); err != nil {
		return w.retryLater(log(), m, "release conditions", err)
	}
	set := w.Policies()
	plan := set.Evaluate(t, w.index, now)
	dec, err := w.apply(ctx, ref, plan, now)
	if err != nil {
		return w.retryLater(log(), m, "apply decision", err)
	}
	if err := w.recordConditions(ctx, set, t, ref, plan, now); err != nil {
		return w.retryLater(log(), m, "record conditions", err)
	}
	if err := w.publishEvent(ctx, w.subjects.Decision(), decisionMsgID(ref), event.TypeDecision, ev.ID, *dec); err != nil {
		return w.retryLater(log(), m, "publish decision", err)
	}
	w.m.Triggers.WithLabelValues(ev.Type).Inc()
	w.m.DecideSeconds.Observe(time.Since(start).Seconds())
	if len(dec.Cancel)+len(dec.Held)+len(dec.Protected)+len(dec.Planned) > 0 {
		log().Info("trigger decided", zap.Strings("policies", dec.Fired), zap.Int("cancel", len(dec.Cancel)),
			zap.Int("held", len(dec.Held)), zap.Int("protected", len(dec.Protected)),
			zap.Int("planned", len(dec.Planned)), zap.Int("already_decided", len(dec.AlreadyDecided)))
	}
	return ack()
}

// apply turns a plan into durable work: a claim and a job per copy to
// cancel, and a result for every copy that will not be cancelled now. The
// per-copy writes run in parallel (a fan-out of thousands would otherwise
// wait on thousands of round trips in a row); the decision lists keep the
// plan's order.
func (w *Worker) apply(ctx context.Context, ref event.TriggerRef, plan *policy.Plan, now time.Time) (*event.Decision, error) {
	pause, paused := w.Paused()
	dec := &event.Decision{
		Trigger: ref, PolicyVersion: plan.Version, Fired: plan.Fired,
		ErrorsDropped: plan.ErrorsDropped,
		Paused:        paused, DryRun: w.cfg.DryRun, DecidedAt: now, Instance: w.cfg.Instance,
	}
	for _, e := range plan.Errors {
		dec.Errors = append(dec.Errors, event.EvalError{Policy: e.Policy, Field: e.Field, ImageID: e.ImageID, Region: e.Region, Message: e.Message})
	}
	w.m.EvalErrors.Add(float64(len(plan.Errors) + plan.ErrorsDropped))

	// kind says which list of the decision each copy goes to.
	type slot struct {
		kind string // cancel, protected, held, planned, already_decided
		dc   event.DecidedCopy
	}
	slots := make([]slot, len(plan.Decisions))
	order := interleaveRegions(plan.Decisions)
	err := parallel(ctx, len(order), 32, func(ctx context.Context, k int) error {
		i := order[k]
		d := plan.Decisions[i]
		dc := event.DecidedCopy{ImageID: d.Copy.ImageID, Region: d.Copy.Region, Policies: d.Policies, Reason: d.Reason}
		var outcome cloud.Outcome
		switch d.Action {
		case policy.ActionProtect:
			dc.Policies = d.Vetoed
			if dc.Reason == "" {
				dc.Reason = fmt.Sprintf("protected by %s; vetoed %s", strings.Join(d.Vetoed, ", "), strings.Join(d.Policies, ", "))
			}
			outcome = cloud.OutcomeProtected
		case policy.ActionHold:
			outcome = cloud.OutcomeHeld
		case policy.ActionPlan:
			outcome = cloud.OutcomePlanned
		case policy.ActionCancel:
			switch {
			case w.cfg.DryRun:
				dc.Reason = "dry run (--dry-run): would cancel"
				outcome = cloud.OutcomePlanned
			case paused:
				dc.Reason = "paused: " + pause.Reason
				outcome = cloud.OutcomeHeld
			default:
				other, err := w.claimAndQueue(ctx, ref, d, now)
				if err != nil {
					return err
				}
				if other != "" {
					dc.Reason = other
					slots[i] = slot{"already_decided", dc}
				} else {
					slots[i] = slot{"cancel", dc}
				}
				return nil
			}
		}
		slots[i] = slot{string(outcome), dc}
		return w.publishResult(ctx, event.Result{
			Trigger: ref, Outcome: string(outcome), Policies: dc.Policies, ImageID: d.Copy.ImageID,
			Region: d.Copy.Region, SourceRegion: d.Copy.SourceRegion, Reason: dc.Reason,
			DryRun: outcome == cloud.OutcomePlanned, DecidedAt: now, FinishedAt: now, Instance: w.cfg.Instance,
		})
	})
	if err != nil {
		return nil, err
	}
	lists := map[string]*[]event.DecidedCopy{
		"cancel": &dec.Cancel, "protected": &dec.Protected, "held": &dec.Held, "planned": &dec.Planned, "already_decided": &dec.AlreadyDecided,
	}
	for _, s := range slots {
		*lists[s.kind] = append(*lists[s.kind], s.dc)
		w.m.Decisions.WithLabelValues(s.kind).Inc()
	}
	return dec, nil
}

// interleaveRegions orders the decisions round-robin over regions. Jobs
// are queued in this order, and every job handler waits on its region's
// rate limiter: queued region by region, all handlers would wait on the
// first region while the others sit idle.
func interleaveRegions(ds []policy.Decision) []int {
	var regions []string
	by := map[string][]int{}
	for i, d := range ds {
		r := d.Copy.Region
		if _, ok := by[r]; !ok {
			regions = append(regions, r)
		}
		by[r] = append(by[r], i)
	}
	order := make([]int, 0, len(ds))
	for k := 0; len(order) < len(ds); k++ {
		for _, r := range regions {
			if k < len(by[r]) {
				order = append(order, by[r][k])
			}
		}
	}
	return order
}

// parallel runs f(0..n-1) on at most width goroutines and returns the
// first error. Small n runs inline: most triggers select a few copies.
// A panic in f is raised again in the caller's goroutine, where the
// handler's recover can see it; in a goroutine of its own it would crash
// the process.
func parallel(ctx context.Context, n, width int, f func(ctx context.Context, i int) error) error {
	if n <= 2 {
		for i := range n {
			if err := f(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var panicked sync.Once
	var panicVal any
	call := func(i int) {
		defer func() {
			if r := recover(); r != nil {
				panicked.Do(func() { panicVal = r })
				cancel(fmt.Errorf("panic: %v", r))
			}
		}()
		if err := f(ctx, i); err != nil {
			cancel(err)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(width, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				call(i)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if panicVal != nil {
		panic(panicVal)
	}
	return context.Cause(ctx)
}

// claimAndQueue claims a copy for this trigger and stores its job. If an
// earlier trigger holds the claim it returns who, and stores nothing.
func (w *Worker) claimAndQueue(ctx context.Context, ref event.TriggerRef, d policy.Decision, now time.Time) (string, error) {
	key := copyKey(d.Copy)
	c := claim{Trigger: ref, Policies: d.Policies, ImageID: d.Copy.ImageID, Region: d.Copy.Region, State: stateDecided, Owner: w.cfg.Instance, DecidedAt: now, UpdatedAt: now}
	val, _ := json.Marshal(c)
	rev, err := w.cfg.Claims.Create(ctx, key, val, 0)
	if errors.Is(err, ErrExists) {
		old, oldRev, gerr := w.loadClaim(ctx, key)
		if gerr != nil {
			return "", gerr
		}
		if old.Trigger != ref {
			return fmt.Sprintf("already decided by trigger %s (%s): %s", old.Trigger.ID, old.Trigger.Type, old.describe()), nil
		}
		// A redelivery of this same trigger: the claim is ours; make sure
		// the job exists (the publish is deduplicated).
		c, rev = old, oldRev
	} else if err != nil {
		return "", fmt.Errorf("claim %s: %w", key, err)
	}
	if c.State == stateDone {
		return "", nil
	}
	j := job{Trigger: ref, Policies: c.Policies, Copy: d.Copy, ClaimRev: rev, DecidedAt: c.DecidedAt}
	body, _ := json.Marshal(j)
	if err := w.cfg.Publisher.Publish(ctx, w.subjects.Job(d.Copy.Region), jobMsgID(key, ref), body); err != nil {
		return "", fmt.Errorf("queue job %s: %w", key, err)
	}
	return "", nil
}

// recordConditions stores a condition for every fired policy with
// active_for, so copies that start later are judged against it.
func (w *Worker) recordConditions(ctx context.Context, set *policy.Set, t policy.Trigger, ref event.TriggerRef, plan *policy.Plan, now time.Time) error {
	for _, name := range plan.Fired {
		p := set.Policy(name)
		if p == nil || p.ActiveFor <= 0 || p.Action != policy.ActionCancel {
			continue
		}
		c := condition{Policy: name, Trigger: t, Ref: ref, Expires: now.Add(p.ActiveFor)}
		val, _ := json.Marshal(c)
		key := conditionKey(name, ref)
		_, err := w.cfg.Conditions.Create(ctx, key, val, p.ActiveFor)
		if errors.Is(err, ErrExists) {
			continue // a redelivery: the condition stands, with its first expiry
		}
		if err != nil {
			return fmt.Errorf("record condition %s: %w", name, err)
		}
		w.ApplyCondition(key, val, false)
		w.log.Info("condition active", zap.String("policy", name), zap.String("trigger_id", ref.ID), zap.Time("until", c.Expires))
	}
	return nil
}

// releaseConditions ends the conditions that trigger t releases: those of
// policies with released_by == t.Type whose trigger names the same region
// (and incident, when the release names one).
func (w *Worker) releaseConditions(ctx context.Context, t policy.Trigger) error {
	set := w.Policies()
	for key, c := range w.activeConditions(w.cfg.Now()) {
		p := set.Policy(c.Policy)
		if p == nil || p.ReleasedBy != t.Type || !sameScope(c.Trigger.Data, t.Data) {
			continue
		}
		if err := w.cfg.Conditions.Delete(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("release condition %s: %w", c.Policy, err)
		}
		w.ApplyCondition(key, nil, true)
		w.log.Info("condition released", zap.String("policy", c.Policy), zap.String("trigger_id", c.Ref.ID), zap.String("released_by", t.ID))
	}
	return nil
}

// sameScope reports whether a release names the same region and incident
// as the condition's trigger; a key the release leaves out matches all.
func sameScope(cond, release map[string]any) bool {
	for _, k := range []string{"region", "incident"} {
		if v, ok := release[k]; ok && v != "" && cond[k] != v {
			return false
		}
	}
	return true
}

// reject publishes unusable input to <prefix>.rejected with the reason and
// acks it: it would fail the same way on every redelivery.
func (w *Worker) reject(ctx context.Context, m Msg, input string, cause error) Verdict {
	// event.Reject cuts the body on a character boundary and replaces
	// invalid UTF-8, so the notice stays within MaxOriginal once encoded.
	r := event.Reject(m.Subject, m.Data, cause, w.cfg.Instance, w.cfg.Now())
	id := rejectedMsgID(m.Subject, m.Data)
	if err := w.publishEvent(ctx, w.subjects.Rejected(), id, event.TypeRejected, m.Subject, r); err != nil {
		return w.retryLater(w.log, m, "publish rejection", err)
	}
	w.m.Rejected.WithLabelValues(input).Inc()
	w.log.Warn("input rejected", zap.String("subject", m.Subject), zap.String("reason", r.Reason))
	return ack()
}

func (w *Worker) publishResult(ctx context.Context, r event.Result) error {
	if err := w.publishEvent(ctx, w.subjects.Result(r.Outcome), resultMsgID(r), event.TypeResult, resultSubject(r), r); err != nil {
		return err
	}
	w.m.Results.WithLabelValues(r.Outcome).Inc()
	return nil
}

// publishEvent wraps data in a CloudEvent whose id is the deterministic
// message id, so the event and its Nats-Msg-Id name the same thing.
func (w *Worker) publishEvent(ctx context.Context, subject, id, typ, ceSubject string, data any) error {
	body, err := event.Marshal(typ, "copyguard/"+w.cfg.Instance, id, ceSubject, w.cfg.Now(), data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	if err := w.cfg.Publisher.Publish(ctx, subject, id, body); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

// retryLater hands a message back when a dependency (NATS, KV) failed:
// nothing about the input is wrong, so it must not be dropped.
func (w *Worker) retryLater(log *zap.Logger, m Msg, what string, err error) Verdict {
	d := backoff(RetryPolicy{BaseDelay: 250 * time.Millisecond, MaxDelay: 10 * time.Second}, m.Delivered)
	log.Warn(what+" failed; will retry", zap.Error(err), zap.Int("delivered", m.Delivered), zap.Duration("delay", d))
	return nak(d, what+": "+err.Error())
}

// recoverPanic turns a panic in a handler into a rejection for input, so
// one poison message cannot crash-loop every replica.
func (w *Worker) recoverPanic(ctx context.Context, m Msg, input string, v *Verdict) {
	if r := recover(); r != nil {
		w.log.Error("handler panic", zap.String("subject", m.Subject), zap.Any("panic", r), zap.Stack("stack"))
		*v = nak(5*time.Second, fmt.Sprint("panic: ", r))
		// The rejection goes through the publisher, which may be what
		// panicked: then the message is handed back instead.
		defer func() { _ = recover() }()
		*v = w.reject(ctx, m, input, fmt.Errorf("internal error while handling this event: %v", r))
	}
}
