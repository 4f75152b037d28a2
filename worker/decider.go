package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// decider turns triggers into durable work: it evaluates the policies
// against the inventory, claims each copy to cancel and queues a job for
// it, publishes the results of the copies it will not cancel, and the
// decision. It never calls the cloud. Its only state of its own is the
// policy set, swapped atomically.
type decider struct {
	*base
	inv      *inventory
	claims   claimStore
	rates    *rates // the max_rate windows (rate.go)
	policies atomic.Pointer[policy.Set]
}

func newDecider(b *base, inv *inventory) *decider {
	d := &decider{base: b, inv: inv, claims: claimStore{kv: b.cfg.Claims, now: b.cfg.Now}, rates: newRates(b.cfg.Limits, b.cfg.Now)}
	d.policies.Store(b.cfg.Policies)
	return d
}

// Policies returns the loaded policy set.
func (d *decider) Policies() *policy.Set { return d.policies.Load() }

// SetPolicies replaces the policy set. Triggers decided from now on use
// it; a trigger being decided keeps the set it started with.
func (d *decider) SetPolicies(set *policy.Set) {
	if set != nil {
		d.policies.Store(set)
	}
}

// HandleTrigger decides one trigger: decode and validate it (bad input is
// published to <prefix>.rejected and acked), evaluate the policies against
// the inventory, claim each copy to cancel and store a job for it, publish
// the other results and the decision, and only then ack.
func (d *decider) HandleTrigger(ctx context.Context, m Msg) (v Verdict) {
	defer d.recoverPanic(ctx, m, "trigger", &v)
	start := time.Now()
	ev, err := event.Decode(m.Data, d.cfg.MaxBodySize)
	if err == nil {
		err = event.CheckSubject(ev, m.Subject, d.cfg.Prefix)
	}
	var data map[string]any
	if err == nil {
		data, _, err = event.DecodeTrigger(ev)
	}
	if err != nil {
		return d.reject(ctx, m, "trigger", err)
	}
	t := policy.Trigger{ID: ev.ID, Type: ev.Type, Source: ev.Source, Subject: ev.Subject, Time: ev.Time, Data: data}
	ref := event.TriggerRef{ID: ev.ID, Type: ev.Type, Source: ev.Source}
	now := d.cfg.Now()
	// Built only when something is logged: most triggers log nothing.
	log := func() *zap.Logger {
		return d.log.With(zap.String("trigger_id", ev.ID), zap.String("trigger_type", ev.Type))
	}

	if reused, err := d.checkTriggerID(ctx, ref, t, now); err != nil {
		return retryLater(log(), m, "check trigger id", err)
	} else if reused != "" {
		return d.reject(ctx, m, "trigger", &event.Error{Field: "id", Reason: reused})
	}
	if err := d.releaseConditions(ctx, t); err != nil {
		return retryLater(log(), m, "release conditions", err)
	}
	set := d.Policies()
	plan := set.Evaluate(t, d.inv.index, now)
	tr := trig{ref: ref, t: &t, set: set, traceparent: traceOf(m)}
	dec, err := d.apply(ctx, tr, plan, now)
	if err != nil {
		return retryLater(log(), m, "apply decision", err)
	}
	if len(plan.Decisions) == 0 {
		dec.Note = d.note(set, t, plan)
	}
	if len(plan.Refused) > 0 {
		dec.Note = joinNotes(sourceNote(t.Source, plan.Refused), dec.Note)
		log().Info("trigger source not accepted", zap.String("source", t.Source), zap.Strings("policies", plan.Refused))
	}
	if err := d.recordConditions(ctx, set, t, ref, plan, now); err != nil {
		return retryLater(log(), m, "record conditions", err)
	}
	if err := d.publishEventTraced(ctx, tr.traceparent, d.subjects.Decision(), decisionMsgID(ref), event.TypeDecision, ev.ID, *dec); err != nil {
		return retryLater(log(), m, "publish decision", err)
	}
	d.m.Triggers.WithLabelValues(triggerTypeLabel(set, ev.Type)).Inc()
	d.m.DecideSeconds.Observe(time.Since(start).Seconds())
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
func (d *decider) apply(ctx context.Context, tr trig, plan *policy.Plan, now time.Time) (*event.Decision, error) {
	ref := tr.ref
	pause, paused := d.inv.Paused()
	dec := &event.Decision{
		Trigger: ref, PolicyVersion: plan.Version, Fired: plan.Fired,
		ErrorsDropped: plan.ErrorsDropped,
		Paused:        paused, DryRun: d.cfg.DryRun, DecidedAt: now, Instance: d.cfg.Instance,
	}
	for _, e := range plan.Errors {
		dec.Errors = append(dec.Errors, event.EvalError{Policy: e.Policy, Field: e.Field, ImageID: e.ImageID, Region: e.Region, Message: e.Message})
	}
	d.m.EvalErrors.Add(float64(len(plan.Errors) + plan.ErrorsDropped))

	// Each copy's slot says which list of the decision it goes to.
	type slot struct {
		list decisionList
		dc   event.DecidedCopy
	}
	slots := make([]slot, len(plan.Decisions))
	order := interleaveRegions(plan.Decisions)
	err := parallel(ctx, len(order), 32, func(ctx context.Context, k int) error {
		i := order[k]
		pd := plan.Decisions[i]
		dc := seenCopy(pd)
		var list decisionList
		switch pd.Action {
		case policy.ActionProtect:
			dc.Policies = pd.Vetoed
			if dc.Reason == "" {
				dc.Reason = fmt.Sprintf("protected by %s; vetoed %s", strings.Join(pd.Vetoed, ", "), strings.Join(pd.Policies, ", "))
			}
			list = listProtected
		case policy.ActionHold:
			list = listHeld
		case policy.ActionPlan:
			list = listPlanned
		case policy.ActionCancel:
			switch {
			case d.cfg.DryRun:
				dc.Reason = "dry run (--dry-run): would cancel"
				list = listPlanned
			case paused:
				dc.Reason = "paused: " + pause.Reason
				list = listHeld
			default:
				held, err := d.rateGate(ctx, ref, pd)
				if err != nil {
					return err
				}
				if held != "" {
					dc.Reason, list = held, listHeld
					break
				}
				other, err := d.claimAndQueue(ctx, tr, pd, now)
				if err != nil {
					return err
				}
				slots[i] = slot{listCancel, dc}
				if other != "" {
					dc.Reason = other
					slots[i] = slot{listAlreadyDecided, dc}
				}
				return nil
			}
		default:
			// policy.ActionNone: policy.Evaluate never decides it. The
			// handler's recover turns this into a rejected trigger.
			panic(fmt.Sprintf("decision for %s with action %v", copyKey(pd.Copy), pd.Action))
		}
		slots[i] = slot{list, dc}
		outcome := list.outcome()
		return d.publishResultTraced(ctx, event.Result{
			Trigger: ref, Outcome: string(outcome), Policies: dc.Policies, ImageID: pd.Copy.ImageID,
			Region: pd.Copy.Region, SourceRegion: pd.Copy.SourceRegion, Reason: dc.Reason,
			DryRun: outcome == cloud.OutcomePlanned, DecidedAt: now, FinishedAt: now, Instance: d.cfg.Instance,
		}, tr.traceparent)
	})
	if err != nil {
		return nil, err
	}
	for _, s := range slots {
		l := s.list.of(dec)
		*l = append(*l, s.dc)
		d.m.Decisions.WithLabelValues(s.list.String()).Inc()
	}
	return dec, nil
}

// rateGate applies the max_rate of the copy's cancelling policies
// (rate.go). A cancel takes its slot when it is decided, here, before its
// claim: a copy already claimed (by this trigger, redelivered, or by
// another) takes no slot, and a grant is named by trigger and copy, so a
// crash between the grant and the claim takes no second slot either. Two
// triggers racing for the same unclaimed copy may both take a slot; the
// loser's stays counted (the safe side). A copy held by a cap is not
// claimed, so a later trigger may cancel it once the window has room.
func (d *decider) rateGate(ctx context.Context, ref event.TriggerRef, pd policy.Decision) (string, error) {
	set := d.Policies()
	if !capped(set, pd.Policies) {
		return "", nil
	}
	key := copyKey(pd.Copy)
	if _, _, err := d.claims.load(ctx, key); err == nil {
		return "", nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	return d.rates.admit(ctx, set, pd.Policies, rateGrantID(key, ref))
}

// claimAndQueue claims a copy for this trigger and stores its job. If an
// earlier trigger holds the claim it returns who, and stores nothing.
func (d *decider) claimAndQueue(ctx context.Context, tr trig, pd policy.Decision, now time.Time) (string, error) {
	ref := tr.ref
	key := copyKey(pd.Copy)
	c := claim{Trigger: ref, Policies: pd.Policies, ImageID: pd.Copy.ImageID, Region: pd.Copy.Region, State: stateDecided, Owner: d.cfg.Instance, DecidedAt: now, UpdatedAt: now, Traceparent: tr.traceparent}
	rev, err := d.claims.create(ctx, key, c)
	if errors.Is(err, ErrExists) {
		old, oldRev, gerr := d.claims.load(ctx, key)
		if gerr != nil {
			return "", gerr
		}
		if old.Trigger != ref {
			return old.decidedBy(), nil
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
	j := job{Trigger: ref, Policies: c.Policies, Copy: pd.Copy, ClaimRev: rev, DecidedAt: c.DecidedAt, Traceparent: c.Traceparent}
	if tr.t != nil && mayRecheck(tr.set, tr.t.Type, c.Policies) {
		j.Eval = tr.t
	}
	body, _ := json.Marshal(j)
	if err := d.cfg.Publisher.Publish(ctx, d.subjects.Job(pd.Copy.Region), jobMsgID(key, ref), body); err != nil {
		return "", fmt.Errorf("queue job %s: %w", key, err)
	}
	return "", nil
}
