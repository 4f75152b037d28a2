package worker

// The re-check before a cancel (SPEC §11). A decision is made on the
// inventory, which may be minutes old: the copy may have passed the
// progress a policy stops at, finished, failed, or carry tags in the
// cloud that its copy.started left out. So before the first call, when
//
//   - the job carries its trigger (Eval: set when the decider saw a
//     policy that may need it; jobs of older workers have none),
//   - one of the deciding policies reads copy.progress or copy.status, or
//     a protect policy listening to the trigger reads copy.tags, and
//   - the copy was last observed more than RecheckAfter ago,
//
// the actor reads the copy again (DescribeImages by ImageId, every
// status named) and settles it without a cancel call when the answer
// says so:
//
//	not found              already_gone
//	Available              completed
//	CreateFailed, other    not_cancellable (not in flight, not finished)
//	protected now          protected (the cloud's tags win over the event's)
//	no longer matches      skipped, with the reason
//	still matches          the cancel goes ahead
//
// skipped and protected leave the copy in flight: the claim is released
// (as for a pause), so a later trigger may decide it again, and the fresh
// copy is merged into the inventory. The re-reads of one region share
// DescribeImages calls: a batch collects ids for batchWindow or until it
// holds 100, then makes one call through the region's "describe" budget.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

const (
	// batchWindow is how long a region's first re-read waits for others
	// to share its call: a fan-out queues its jobs within milliseconds.
	batchWindow = 5 * time.Millisecond
	// maxBatch is the most ids one DescribeImages call takes (one page).
	maxBatch = 100
)

// mayRecheck reports whether a cancel by policies for a trigger of type
// typ may need the re-check: a deciding policy reads the copy's progress
// or status, or a protect policy listening to typ reads its tags.
func mayRecheck(set *policy.Set, typ string, policies []string) bool {
	if set == nil {
		return false
	}
	for _, name := range policies {
		if p := set.Policy(name); p != nil && p.ReadsCopyState() {
			return true
		}
	}
	for _, p := range set.Policies() {
		if p.Enabled && p.Action == policy.ActionProtect && p.Listens(typ) && p.ReadsCopyTags() {
			return true
		}
	}
	return false
}

// describeBatcher joins the re-reads of one region into DescribeImages
// calls of up to maxBatch ids.
type describeBatcher struct {
	describe func(ctx context.Context, region string, ids []string) ([]cloud.Copy, error)
	window   time.Duration

	mu      sync.Mutex // guards pending
	pending map[string]*batch
}

// batch is one call in the making. ids grows until the batch leaves
// pending; found and err are set before done is closed.
type batch struct {
	region string
	ids    []string
	full   chan struct{} // closed when the batch reached maxBatch
	done   chan struct{}
	found  map[string]cloud.Copy
	err    error
}

func newDescribeBatcher(window time.Duration, describe func(ctx context.Context, region string, ids []string) ([]cloud.Copy, error)) *describeBatcher {
	return &describeBatcher{describe: describe, window: window, pending: map[string]*batch{}}
}

// get reads one copy, in a batch with the other reads of its region.
// found is false when the API no longer knows the copy.
func (b *describeBatcher) get(ctx context.Context, region, id string) (c cloud.Copy, found bool, err error) {
	b.mu.Lock()
	bt := b.pending[region]
	if bt == nil {
		bt = &batch{region: region, full: make(chan struct{}), done: make(chan struct{})}
		b.pending[region] = bt
		go b.run(bt)
	}
	if !slices.Contains(bt.ids, id) {
		bt.ids = append(bt.ids, id)
	}
	if len(bt.ids) >= maxBatch {
		delete(b.pending, region)
		close(bt.full)
	}
	b.mu.Unlock()
	select {
	case <-bt.done:
	case <-ctx.Done():
		return cloud.Copy{}, false, ctx.Err()
	}
	if bt.err != nil {
		return cloud.Copy{}, false, bt.err
	}
	c, found = bt.found[id]
	return c, found, nil
}

// run waits for the batch to fill or its window to pass, then calls. The
// call is not cut short by one waiter leaving: others may share it.
func (b *describeBatcher) run(bt *batch) {
	t := time.NewTimer(b.window)
	select {
	case <-t.C:
	case <-bt.full:
	}
	t.Stop()
	b.mu.Lock()
	if b.pending[bt.region] == bt {
		delete(b.pending, bt.region)
	}
	ids := slices.Clone(bt.ids)
	b.mu.Unlock()
	copies, err := b.describe(context.Background(), bt.region, ids)
	bt.found = make(map[string]cloud.Copy, len(copies))
	for _, c := range copies {
		bt.found[c.ImageID] = c
	}
	bt.err = err
	close(bt.done)
}

// describe is one re-read call: the region's "describe" budget, the call,
// and what the answer tells the budget and readiness.
func (a *actor) describe(ctx context.Context, region string, ids []string) ([]cloud.Copy, error) {
	lim := a.limits.get(apiDescribe, region)
	wctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	err := lim.Wait(wctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("wait for the region's describe budget: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	defer cancel()
	copies, err := a.cfg.Describer.DescribeCopies(cctx, region, ids)
	a.health.record(apiDescribe, region, err, a.cfg.Now())
	var lerr error
	switch {
	case err == nil:
		lerr = lim.Succeeded(ctx)
	case errors.Is(err, cloud.ErrThrottled):
		lerr = lim.Throttled(ctx)
	}
	if lerr != nil {
		a.log.Debug("describe limiter", zap.String("region", region), zap.Error(lerr))
	}
	return copies, err
}

// recheck reads the copy of a job again before its first call, when that
// is needed (see the top of this file), and settles the job if the fresh
// copy says so. done is false when the cancel should go ahead.
func (a *actor) recheck(ctx context.Context, log *zap.Logger, m Msg, key string, j job, c claim, rev uint64) (v Verdict, done bool) {
	if a.batcher == nil || j.Eval == nil || c.Attempts > 0 || c.State != stateDecided || c.Unknown {
		return Verdict{}, false
	}
	set := a.policies()
	if !mayRecheck(set, j.Eval.Type, j.Policies) {
		return Verdict{}, false
	}
	base := j.Copy
	if inv, ok := a.inv.index.Get(base.Region, base.ImageID); ok {
		base = mergeCopy(base, inv)
	}
	now := a.cfg.Now()
	if !base.ObservedAt.IsZero() && now.Sub(base.ObservedAt) <= a.cfg.RecheckAfter {
		return Verdict{}, false
	}
	got, found, err := a.batcher.get(ctx, base.Region, base.ImageID)
	if err != nil {
		if ctx.Err() != nil {
			return nak(0, "shutting down"), true
		}
		if cloud.IsCredentialError(err) {
			// About the fleet's key, not the copy (as for a cancel call):
			// the breaker counts it, and the job comes back later.
			if berr := a.breakers.get(base.Region).record(ctx, err); berr != nil {
				log.Warn("update the region's circuit breaker", zap.Error(berr))
			}
			log.Warn("re-check refused: credential error; will retry", zap.String("code", errorCode(err)), zap.Error(err))
			return nak(a.cfg.BreakerProbe, "credential error: "+errorCode(err)), true
		}
		if class, _ := cloud.Classify(err); class == cloud.ClassPermanent {
			r := a.recheckResult(j, c, cloud.OutcomeFailed, "re-check before the cancel failed: "+err.Error(), now)
			r.ErrorCode, r.ErrorMessage = errorCode(err), err.Error()
			return a.settleRecheck(ctx, log, m, key, c, rev, r), true
		}
		return retryLater(log, m, "re-check copy", err), true
	}
	a.m.Rechecks.WithLabelValues(a.labels.region(base.Region)).Inc()
	seen := fmt.Sprintf("re-checked at %s", now.UTC().Format(time.RFC3339))
	if !found {
		r := a.recheckResult(j, c, cloud.OutcomeAlreadyGone, seen+": DescribeImages no longer finds the copy", now)
		return a.settleRecheck(ctx, log, m, key, c, rev, r), true
	}
	if !got.InFlight() {
		o := cloud.OutcomeNotCancellable
		if got.Status == cloud.StatusAvailable {
			o = cloud.OutcomeCompleted
		}
		r := a.recheckResult(j, c, o, fmt.Sprintf("%s: the copy is %s", seen, got.Status), now)
		return a.settleRecheck(ctx, log, m, key, c, rev, r), true
	}
	fresh := mergeCopy(base, got) // the cloud's tags, when it has any, replace the event's
	fresh.ObservedAt = now
	if _, err := a.inv.storeCopy(ctx, fresh, observation{}); err != nil {
		log.Warn("store re-checked copy", zap.Error(err))
	}
	plan := set.EvaluateCopies(*j.Eval, []cloud.Copy{fresh}, now, policy.OnlyPolicies(j.Policies...))
	state := fmt.Sprintf("%s, %d%%", fresh.Status, fresh.Progress)
	var r event.Result
	switch {
	case len(plan.Decisions) == 0:
		r = a.recheckResult(j, c, cloud.OutcomeSkipped,
			fmt.Sprintf("%s: the copy (%s) no longer matches %s", seen, state, strings.Join(j.Policies, ", ")), now)
	case plan.Decisions[0].Action == policy.ActionProtect:
		pd := plan.Decisions[0]
		r = a.recheckResult(j, c, cloud.OutcomeProtected,
			fmt.Sprintf("%s: protected by %s (tags from DescribeImages); vetoed %s", seen, strings.Join(pd.Vetoed, ", "), strings.Join(pd.Policies, ", ")), now)
		r.Policies = pd.Vetoed
	default:
		log.Debug("re-checked: still matches", zap.String("status", fresh.Status), zap.Int("progress", fresh.Progress))
		return Verdict{}, false
	}
	return a.releaseRecheck(ctx, log, m, key, c, r), true
}

// recheckResult is the result of a job the re-check settled: no call.
func (a *actor) recheckResult(j job, c claim, o cloud.Outcome, why string, now time.Time) event.Result {
	return event.Result{
		Trigger: j.Trigger, Outcome: string(o), Policies: j.Policies, ImageID: j.Copy.ImageID,
		Region: j.Copy.Region, SourceRegion: j.Copy.SourceRegion, Attempts: c.Attempts,
		Reason: why, DecidedAt: c.DecidedAt, FinishedAt: now, Instance: a.cfg.Instance,
	}
}

// settleRecheck stores a final result in the claim and finishes as after
// a call.
func (a *actor) settleRecheck(ctx context.Context, log *zap.Logger, m Msg, key string, c claim, rev uint64, r event.Result) Verdict {
	c.State, c.Result = stateDone, &r
	if _, err := a.claims.save(ctx, key, c, rev); errors.Is(err, ErrConflict) {
		return nak(2*time.Second, "claim is being worked on elsewhere")
	} else if err != nil {
		return retryLater(log, m, "save claim", err)
	}
	return a.finish(ctx, log, m, key, c)
}

// releaseRecheck publishes the result of a copy still in flight that the
// re-check spared, and releases its claim, so a later trigger may decide
// it again; as for a pause, a crash in between repeats the re-check.
func (a *actor) releaseRecheck(ctx context.Context, log *zap.Logger, m Msg, key string, c claim, r event.Result) Verdict {
	if err := a.publishResultTraced(ctx, r, c.Traceparent); err != nil {
		return retryLater(log, m, "publish result", err)
	}
	if err := a.claims.release(ctx, key); err != nil {
		return retryLater(log, m, "release claim", err)
	}
	log.Info("copy decided", zap.String("outcome", r.Outcome), zap.String("reason", r.Reason))
	return ack()
}
