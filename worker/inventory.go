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

// HandleInventory applies one copy.started or copy.finished event to the
// shared inventory. A started copy is also judged against the conditions
// in force (a quarantine cancels copies that start after it).
func (w *Worker) HandleInventory(ctx context.Context, m Msg) (v Verdict) {
	defer w.recoverPanic(ctx, m, "inventory", &v)
	ev, err := event.Decode(m.Data, w.cfg.MaxBodySize)
	if err == nil {
		err = event.CheckSubject(ev, m.Subject, w.cfg.Prefix)
	}
	if err != nil {
		return w.reject(ctx, m, "inventory", err)
	}
	switch ev.Type {
	case event.TypeCopyStarted:
		cs, err := event.DecodeCopyStarted(ev)
		if err != nil {
			return w.reject(ctx, m, "inventory", err)
		}
		c := cs.Copy()
		if old, ok := w.index.Get(c.Region, c.ImageID); ok {
			c = mergeCopy(old, c)
		}
		if err := w.putCopy(ctx, c); err != nil {
			return w.retryLater(w.log, m, "store copy", err)
		}
		if err := w.applyConditions(ctx, c); err != nil {
			return w.retryLater(w.log, m, "apply conditions", err)
		}
	case event.TypeCopyFinished:
		cf, err := event.DecodeCopyFinished(ev)
		if err != nil {
			return w.reject(ctx, m, "inventory", err)
		}
		key := copyKeyOf(cf.Region, cf.ImageID)
		if err := w.cfg.Copies.Delete(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
			return w.retryLater(w.log, m, "remove copy", err)
		}
		w.ApplyCopy(key, nil, true)
	default:
		return w.reject(ctx, m, "inventory", &event.Error{Field: "type", Reason: fmt.Sprintf("unknown inventory event type %q", ev.Type)})
	}
	return ack()
}

func (w *Worker) putCopy(ctx context.Context, c cloud.Copy) error {
	val, _ := json.Marshal(c)
	if _, err := w.cfg.Copies.Put(ctx, copyKey(c), val); err != nil {
		return fmt.Errorf("store copy %s: %w", copyKey(c), err)
	}
	// Mirror at once: the watch echo comes later, and a trigger right
	// after copy.started should see the copy.
	w.index.Put(c)
	return nil
}

// mergeCopy keeps what only copy.started knows (the source) and takes the
// newest status and progress.
func mergeCopy(old, c cloud.Copy) cloud.Copy {
	if c.SourceRegion == "" {
		c.SourceRegion = old.SourceRegion
	}
	if c.SourceImageID == "" {
		c.SourceImageID = old.SourceImageID
	}
	if c.Name == "" {
		c.Name = old.Name
	}
	if c.ResourceGroupID == "" {
		c.ResourceGroupID = old.ResourceGroupID
	}
	if len(c.Tags) == 0 {
		c.Tags = old.Tags
	}
	if c.StartedAt.IsZero() {
		c.StartedAt = old.StartedAt
	}
	if c.SizeGB == 0 {
		c.SizeGB = old.SizeGB
	}
	if c.Progress < old.Progress && c.Status == old.Status {
		c.Progress = old.Progress
	}
	return c
}

// applyConditions judges a newly seen copy against every active condition.
func (w *Worker) applyConditions(ctx context.Context, c cloud.Copy) error {
	now := w.cfg.Now()
	set := w.Policies()
	for _, cond := range w.activeConditions(now) {
		if set.Policy(cond.Policy) == nil {
			continue // the policy is gone from the loaded set
		}
		plan := set.EvaluateCopies(cond.Trigger, []cloud.Copy{c}, now, policy.OnlyPolicies(cond.Policy))
		if len(plan.Decisions) == 0 && len(plan.Errors) == 0 {
			continue
		}
		dec, err := w.apply(ctx, cond.Ref, plan, now)
		if err != nil {
			return err
		}
		id := conditionDecisionMsgID(cond.Ref, c)
		if err := w.publishEvent(ctx, w.subjects.Decision(), id, event.TypeDecision, cond.Ref.ID, *dec); err != nil {
			return err
		}
		w.log.Info("condition applied to new copy", zap.String("policy", cond.Policy), zap.String("trigger_id", cond.Ref.ID),
			zap.String("image_id", c.ImageID), zap.String("region", c.Region))
	}
	return nil
}

// Reconcile lists the in-flight copies of every configured region and
// brings the shared inventory in line: new copies are added (and judged
// against active conditions), progress is updated, and copies that are no
// longer in flight are removed.
func (w *Worker) Reconcile(ctx context.Context) error {
	if w.cfg.Lister == nil {
		return nil
	}
	var errs []error
	for _, region := range w.cfg.Regions {
		if err := w.reconcileRegion(ctx, region); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// graceNew protects copies announced by copy.started just before a listing
// from being removed because the listing did not show them yet.
const graceNew = time.Minute

func (w *Worker) reconcileRegion(ctx context.Context, region string) error {
	start := w.cfg.Now()
	listed, err := w.cfg.Lister.ListCopies(ctx, region)
	if err != nil {
		return fmt.Errorf("reconcile %s: %w", region, err)
	}
	seen := make(map[string]bool, len(listed))
	for _, c := range listed {
		seen[c.ImageID] = true
		old, known := w.index.Get(c.Region, c.ImageID)
		if known {
			c = mergeCopy(old, c)
			if c.Status == old.Status && c.Progress == old.Progress {
				continue
			}
		}
		if err := w.putCopy(ctx, c); err != nil {
			return err
		}
		if !known {
			if err := w.applyConditions(ctx, c); err != nil {
				return err
			}
		}
	}
	for _, c := range w.index.All() {
		if c.Region != region || seen[c.ImageID] || c.StartedAt.After(start.Add(-graceNew)) {
			continue
		}
		if err := w.cfg.Copies.Delete(ctx, copyKey(c)); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("reconcile %s: remove %s: %w", region, c.ImageID, err)
		}
		w.ApplyCopy(copyKey(c), nil, true)
	}
	return nil
}

// RunReconcile reconciles at start and then every ReconcileEvery until ctx
// ends. Errors are logged: the next round tries again.
func (w *Worker) RunReconcile(ctx context.Context) {
	if w.cfg.Lister == nil || len(w.cfg.Regions) == 0 {
		return
	}
	t := time.NewTicker(w.cfg.ReconcileEvery)
	defer t.Stop()
	for {
		if err := w.Reconcile(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("reconcile failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
