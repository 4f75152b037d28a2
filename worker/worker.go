package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// Worker composes the three parts of the flow on one shared base: the
// decider (triggers), the actor (jobs) and the inventory (copies,
// conditions, pause). Each part has its own state and its own lock; the
// Worker only routes bus's handler calls to them. Its methods are safe
// for concurrent use.
type Worker struct {
	decider *decider
	actor   *actor
	inv     *inventory
}

// New checks cfg and returns a Worker.
func New(cfg Config) (*Worker, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	cfg.defaults()
	b := &base{cfg: cfg, subjects: event.SubjectsFor(cfg.Prefix), log: cfg.Logger, m: NewMetrics(cfg.Registerer),
		limits: newLimiters(cfg.Limits, cfg.QPS, cfg.Burst, cfg.Now), health: newHealth(cfg.Regions), labels: newLabels(cfg.Regions)}
	b.breakers = newBreakers(cfg.Limits, cfg.BreakerThreshold, cfg.BreakerProbe, cfg.Instance, cfg.Now, cfg.Logger, b.m.CircuitOpen, b.labels.region)
	for _, r := range cfg.Regions {
		b.breakers.get(r)
	}
	inv := newInventory(b)
	w := &Worker{decider: newDecider(b, inv), actor: newActor(b, inv), inv: inv}
	inv.judge = w.decider.judgeNew
	w.actor.policies = w.decider.Policies
	if cfg.Describer != nil {
		w.actor.batcher = newDescribeBatcher(batchWindow, w.actor.describe)
	}
	if cfg.Registerer != nil {
		inv.registerGauges(cfg.Registerer)
	}
	return w, nil
}

// HandleTrigger decides one trigger; see decider.HandleTrigger.
func (w *Worker) HandleTrigger(ctx context.Context, m Msg) Verdict {
	return w.decider.HandleTrigger(ctx, m)
}

// HandleJob cancels one claimed copy; see actor.HandleJob.
func (w *Worker) HandleJob(ctx context.Context, m Msg) Verdict { return w.actor.HandleJob(ctx, m) }

// HandleInventory applies one copy.started or copy.finished event; see
// inventory.HandleInventory.
func (w *Worker) HandleInventory(ctx context.Context, m Msg) Verdict {
	return w.inv.HandleInventory(ctx, m)
}

// ApplyCopy mirrors one change of the copies bucket.
func (w *Worker) ApplyCopy(key string, val []byte, deleted bool) { w.inv.ApplyCopy(key, val, deleted) }

// ApplyCondition mirrors one change of the conditions bucket.
func (w *Worker) ApplyCondition(key string, val []byte, deleted bool) {
	w.inv.ApplyCondition(key, val, deleted)
}

// ApplyControl mirrors one change of the control bucket (the pause switch).
func (w *Worker) ApplyControl(key string, val []byte, deleted bool) {
	w.inv.ApplyControl(key, val, deleted)
}

// Reconcile brings the shared inventory in line with DescribeImages once.
func (w *Worker) Reconcile(ctx context.Context) error { return w.inv.Reconcile(ctx) }

// RunReconcile reconciles at start and then every ReconcileEvery until ctx
// ends.
func (w *Worker) RunReconcile(ctx context.Context) { w.inv.RunReconcile(ctx) }

// InventoryReady reports whether every configured region has a complete
// DescribeImages listing, by any replica, recent enough (two reconcile
// rounds); the error names the regions still missing. It reads the
// leases bucket only for regions not known fresh. With no regions or no
// Lister it is ready at once.
func (w *Worker) InventoryReady(ctx context.Context, now time.Time) error {
	return w.inv.InventoryReady(ctx, now)
}

// Listings returns, per configured region, the last complete listing and
// the last listing error this replica knows of (for /readyz). No I/O.
func (w *Worker) Listings() []RegionListing { return w.inv.Listings() }

// Policies returns the loaded policy set.
func (w *Worker) Policies() *policy.Set { return w.decider.Policies() }

// SetPolicies replaces the policy set. Triggers decided from now on use
// it; a trigger being decided keeps the set it started with.
func (w *Worker) SetPolicies(set *policy.Set) { w.decider.SetPolicies(set) }

// Inventory returns the in-memory view of the shared inventory.
func (w *Worker) Inventory() *policy.CopyIndex { return w.inv.index }

// CloudHealth reports, per region, whether the last cloud call said that
// access works: every configured region, and every region called since.
func (w *Worker) CloudHealth() []RegionHealth { return w.circuitView(w.actor.health.all()) }

// Paused reports the pause switch as this worker last saw it.
func (w *Worker) Paused() (PauseState, bool) { return w.inv.Paused() }
