package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
)

// Reconcile lists the in-flight copies of every configured region whose
// lease this replica wins (lease.go) and brings the shared inventory in
// line: new copies are added (and judged against active conditions),
// progress moves forward, and copies that are no longer in flight are
// removed. A listing never brings back a copy removed after it started,
// nor one that has a decision (copies.go).
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

// judgeTakeover is how long after its Create a copy still waiting to be
// judged is left to its creator; after that a listing judges it (the
// creator failed half-way).
const judgeTakeover = 30 * time.Second

// listAttempts bounds the ListCopies calls of one listing that fail with
// a retryable error other than throttling.
const listAttempts = 4

func (i *inventory) reconcileRegion(ctx context.Context, region string) error {
	won, err := i.acquireLease(ctx, region, i.cfg.Now())
	if err != nil {
		i.m.Reconciles.WithLabelValues(i.labels.region(region), "error").Inc()
		return fmt.Errorf("reconcile %s: %w", region, err)
	}
	if !won {
		i.m.Reconciles.WithLabelValues(i.labels.region(region), "skipped").Inc()
		if _, err := i.readRecord(ctx, region); err != nil {
			i.log.Debug("read listing record", zap.String("region", region), zap.Error(err))
		}
		return nil
	}
	began := time.Now()
	lctx, cancel := context.WithTimeout(ctx, leaseTTL(i.cfg.ReconcileEvery))
	err = i.listAndApply(lctx, region)
	cancel()
	i.m.ReconcileSeconds.WithLabelValues(i.labels.region(region)).Observe(time.Since(began).Seconds())
	if err != nil {
		i.m.Reconciles.WithLabelValues(i.labels.region(region), "error").Inc()
		err = fmt.Errorf("reconcile %s: %w", region, err)
		return errors.Join(err, i.recordListing(ctx, region, err), i.releaseLease(ctx, region))
	}
	i.m.Reconciles.WithLabelValues(i.labels.region(region), "ok").Inc()
	return i.recordListing(ctx, region, nil)
}

// listAndApply lists region once and applies the listing.
func (i *inventory) listAndApply(ctx context.Context, region string) error {
	start := i.cfg.Now()
	listed, err := i.list(ctx, region)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(listed))
	for _, c := range listed {
		seen[c.ImageID] = true
		s, err := i.storeCopy(ctx, c, observation{at: start, checkClaims: true, judge: true})
		if err != nil {
			return err
		}
		if s.skipped != "" {
			i.log.Info("listed copy not added back", zap.String("image_id", c.ImageID), zap.String("region", region), zap.String("reason", s.skipped))
			continue
		}
		if s.JudgePending && (s.created || s.SeenAt.Before(start.Add(-judgeTakeover))) {
			if err := i.judgeAndMark(ctx, s.Copy); err != nil {
				return err
			}
		}
	}
	for _, c := range i.index.All() {
		if c.Region != region || seen[c.ImageID] {
			continue
		}
		if err := i.removeUnlisted(ctx, copyKey(c), start); err != nil {
			return fmt.Errorf("remove %s: %w", c.ImageID, err)
		}
	}
	return nil
}

// removeUnlisted removes a copy a listing that began at start did not
// show, unless copyguard has known it for less than graceNew before the
// listing (the earlier of its start and its first observation: a
// started_at in the future cannot keep it).
func (i *inventory) removeUnlisted(ctx context.Context, key string, start time.Time) error {
	val, _, err := i.cfg.Copies.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		i.ApplyCopy(key, nil, true) // the mirror had not seen the delete yet
		return nil
	}
	if err != nil {
		return err
	}
	if decodeStored(val).since(start).After(start.Add(-graceNew)) {
		return nil
	}
	return i.removeCopy(ctx, key)
}

// callLimiter is the part of the fleet's limiter (limiter.go) a listing
// uses; tests count its calls.
type callLimiter interface {
	Wait(ctx context.Context) error
	Throttled(ctx context.Context) error
	Succeeded(ctx context.Context) error
}

// list calls ListCopies for region (all pages: one unit) through the
// region's "describe" limiter. A throttled answer slows the limiter and
// is tried again without counting as a failure, until ctx ends; other
// retryable errors are tried listAttempts times with backoff; a
// permanent error returns at once.
func (i *inventory) list(ctx context.Context, region string) ([]cloud.Copy, error) {
	lim := i.describeLimiter(region)
	failures, throttles := 0, 0
	br := i.breakers.get(region)
	for {
		// An open circuit stops the fleet's calls to the region; its probe
		// (breaker.go) is the only call until it closes.
		if st, err := br.state(ctx); err != nil {
			return nil, fmt.Errorf("list copies in %s: %w", region, err)
		} else if st.Open {
			return nil, fmt.Errorf("list copies in %s: %s", region, st.heldReason())
		}
		if err := lim.Wait(ctx); err != nil {
			return nil, fmt.Errorf("list copies in %s: wait for the rate limit: %w", region, err)
		}
		copies, err := i.cfg.Lister.ListCopies(ctx, region)
		i.health.record(apiDescribe, region, err, i.cfg.Now())
		if rerr := br.record(ctx, err); rerr != nil {
			i.log.Warn("update the region's circuit breaker", zap.String("region", region), zap.Error(rerr))
		}
		if err == nil {
			if err := lim.Succeeded(ctx); err != nil {
				i.log.Debug("describe limiter", zap.String("region", region), zap.Error(err))
			}
			return copies, nil
		}
		// The Lister names the operation and the region (cloud/ecs: "list
		// copies in R: page N: ..."); no second wrap here.
		var delay time.Duration
		switch class, _ := cloud.Classify(err); {
		case ctx.Err() != nil:
			return nil, err
		case errors.Is(err, cloud.ErrThrottled):
			if lerr := lim.Throttled(ctx); lerr != nil {
				i.log.Debug("describe limiter", zap.String("region", region), zap.Error(lerr))
			}
			throttles++
			delay = backoff(i.cfg.Retry, throttles-1)
		case class == cloud.ClassRetryable:
			failures++
			if failures >= listAttempts {
				return nil, err
			}
			delay = backoff(i.cfg.Retry, failures-1)
		default:
			return nil, err
		}
		i.log.Info("listing failed; will retry", zap.String("region", region), zap.Int("attempt", failures+throttles), zap.Duration("delay", delay), zap.Error(err))
		if !sleep(ctx, delay) {
			return nil, err
		}
	}
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
