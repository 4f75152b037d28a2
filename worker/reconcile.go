package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Reconcile lists the in-flight copies of every configured region and
// brings the shared inventory in line: new copies are added (and judged
// against active conditions), progress is updated, and copies that are no
// longer in flight are removed.
func (i *inventory) Reconcile(ctx context.Context) error {
	if i.cfg.Lister == nil {
		return nil
	}
	var errs []error
	for _, region := range i.cfg.Regions {
		if err := i.reconcileRegion(ctx, region); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// graceNew protects copies announced by copy.started just before a listing
// from being removed because the listing did not show them yet.
const graceNew = time.Minute

func (i *inventory) reconcileRegion(ctx context.Context, region string) error {
	start := i.cfg.Now()
	listed, err := i.cfg.Lister.ListCopies(ctx, region)
	if err != nil {
		return fmt.Errorf("reconcile %s: %w", region, err)
	}
	seen := make(map[string]bool, len(listed))
	for _, c := range listed {
		seen[c.ImageID] = true
		old, known := i.index.Get(c.Region, c.ImageID)
		if known {
			c = mergeCopy(old, c)
			if c.Status == old.Status && c.Progress == old.Progress {
				continue
			}
		}
		if err := i.putCopy(ctx, c); err != nil {
			return err
		}
		if !known {
			if err := i.judge(ctx, c); err != nil {
				return err
			}
		}
	}
	for _, c := range i.index.All() {
		if c.Region != region || seen[c.ImageID] || c.StartedAt.After(start.Add(-graceNew)) {
			continue
		}
		if err := i.removeCopy(ctx, copyKey(c)); err != nil {
			return fmt.Errorf("reconcile %s: remove %s: %w", region, c.ImageID, err)
		}
	}
	return nil
}

// RunReconcile reconciles at start and then every ReconcileEvery until ctx
// ends. Errors are logged: the next round tries again.
func (i *inventory) RunReconcile(ctx context.Context) {
	if i.cfg.Lister == nil || len(i.cfg.Regions) == 0 {
		return
	}
	t := time.NewTicker(i.cfg.ReconcileEvery)
	defer t.Stop()
	for {
		if err := i.Reconcile(ctx); err != nil && ctx.Err() == nil {
			i.log.Warn("reconcile failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
