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

// A condition is a trigger that stays in force: a policy with active_for
// judges the copies that start while it is active, until it expires (the
// bucket's per-key TTL, and Expires in memory) or a released_by trigger
// ends it. The inventory holds the conditions; the decider records,
// releases and applies them.

// condition is the value of a key in the conditions bucket.
type condition struct {
	Policy  string           `json:"policy"`
	Trigger policy.Trigger   `json:"trigger"`
	Ref     event.TriggerRef `json:"ref"`
	Expires time.Time        `json:"expires"`
}

// ApplyCondition mirrors one change of the conditions bucket.
func (i *inventory) ApplyCondition(key string, val []byte, deleted bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if deleted {
		delete(i.conditions, key)
		return
	}
	var c condition
	if err := json.Unmarshal(val, &c); err != nil {
		i.log.Warn("condition entry unreadable", zap.String("key", key), zap.Error(err))
		return
	}
	i.conditions[key] = c
}

// activeConditions returns the conditions in force at now.
func (i *inventory) activeConditions(now time.Time) map[string]condition {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[string]condition, len(i.conditions))
	for k, c := range i.conditions {
		if now.Before(c.Expires) {
			out[k] = c
		}
	}
	return out
}

// addCondition stores a new condition that expires after ttl and mirrors
// it. It reports false if the key exists: a redelivered trigger keeps the
// condition, with its first expiry.
func (i *inventory) addCondition(ctx context.Context, key string, c condition, ttl time.Duration) (bool, error) {
	val, _ := json.Marshal(c)
	_, err := i.cfg.Conditions.Create(ctx, key, val, ttl)
	if errors.Is(err, ErrExists) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	i.ApplyCondition(key, val, false)
	return true, nil
}

// removeCondition ends a condition in the bucket and in memory.
func (i *inventory) removeCondition(ctx context.Context, key string) error {
	if err := i.cfg.Conditions.Delete(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	i.ApplyCondition(key, nil, true)
	return nil
}

// recordConditions stores a condition for every fired policy with
// active_for, so copies that start later are judged against it.
func (d *decider) recordConditions(ctx context.Context, set *policy.Set, t policy.Trigger, ref event.TriggerRef, plan *policy.Plan, now time.Time) error {
	for _, name := range plan.Fired {
		p := set.Policy(name)
		if p == nil || p.ActiveFor <= 0 || p.Action != policy.ActionCancel {
			continue
		}
		c := condition{Policy: name, Trigger: t, Ref: ref, Expires: now.Add(p.ActiveFor)}
		added, err := d.inv.addCondition(ctx, conditionKey(name, ref), c, p.ActiveFor)
		if err != nil {
			return fmt.Errorf("record condition %s: %w", name, err)
		}
		if added {
			d.log.Info("condition active", zap.String("policy", name), zap.String("trigger_id", ref.ID), zap.Time("until", c.Expires))
		}
	}
	return nil
}

// releaseConditions ends the conditions that trigger t releases: those of
// policies with released_by == t.Type whose trigger names the same region
// (and incident, when the release names one).
func (d *decider) releaseConditions(ctx context.Context, t policy.Trigger) error {
	set := d.Policies()
	for key, c := range d.inv.activeConditions(d.cfg.Now()) {
		p := set.Policy(c.Policy)
		if p == nil || p.ReleasedBy != t.Type || !sameScope(c.Trigger.Data, t.Data) {
			continue
		}
		if err := d.inv.removeCondition(ctx, key); err != nil {
			return fmt.Errorf("release condition %s: %w", c.Policy, err)
		}
		d.log.Info("condition released", zap.String("policy", c.Policy), zap.String("trigger_id", c.Ref.ID), zap.String("released_by", t.ID))
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

// judgeNew judges a copy seen for the first time against every active
// condition, deciding it as the condition's trigger would have.
func (d *decider) judgeNew(ctx context.Context, c cloud.Copy) error {
	now := d.cfg.Now()
	set := d.Policies()
	for _, cond := range d.inv.activeConditions(now) {
		if set.Policy(cond.Policy) == nil {
			continue // the policy is gone from the loaded set
		}
		plan := set.EvaluateCopies(cond.Trigger, []cloud.Copy{c}, now, policy.OnlyPolicies(cond.Policy))
		if len(plan.Decisions) == 0 && len(plan.Errors) == 0 {
			continue
		}
		dec, err := d.apply(ctx, trig{ref: cond.Ref, t: &cond.Trigger, set: set}, plan, now)
		if err != nil {
			return err
		}
		if err := d.publishEvent(ctx, d.subjects.Decision(), conditionDecisionMsgID(cond.Ref, c), event.TypeDecision, cond.Ref.ID, *dec); err != nil {
			return err
		}
		d.log.Info("condition applied to new copy", zap.String("policy", cond.Policy), zap.String("trigger_id", cond.Ref.ID),
			zap.String("image_id", c.ImageID), zap.String("region", c.Region))
	}
	return nil
}
