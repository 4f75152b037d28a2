package worker

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

// countingLister lists the copies of listing[region] and counts calls;
// errs, if set, answers the first calls with errors.
type countingLister struct {
	mu      sync.Mutex
	listing map[string][]cloud.Copy
	errs    []error
	calls   map[string]int
	during  func(region string) // runs inside ListCopies, before it answers
}

func newCountingLister() *countingLister {
	return &countingLister{listing: map[string][]cloud.Copy{}, calls: map[string]int{}}
}

func (l *countingLister) ListCopies(_ context.Context, region string) ([]cloud.Copy, error) {
	l.mu.Lock()
	n := l.calls[region]
	l.calls[region]++
	during := l.during
	var err error
	if n < len(l.errs) {
		err = l.errs[n]
	}
	out := append([]cloud.Copy(nil), l.listing[region]...)
	l.mu.Unlock()
	if during != nil {
		during(region)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l *countingLister) count(region string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[region]
}

// countLimiter is a callLimiter that counts what the listing told it.
type countLimiter struct{ waits, throttled, succeeded atomic.Int32 }

func (l *countLimiter) Wait(context.Context) error      { l.waits.Add(1); return nil }
func (l *countLimiter) Throttled(context.Context) error { l.throttled.Add(1); return nil }
func (l *countLimiter) Succeeded(context.Context) error { l.succeeded.Add(1); return nil }

// storedIn reads a copy from the copies bucket.
func storedIn(t *testing.T, kv *memKV, c cloud.Copy) (storedCopy, bool) {
	t.Helper()
	val, _, err := kv.Get(testCtx, copyKey(c))
	if err != nil {
		return storedCopy{}, false
	}
	var sc storedCopy
	if err := json.Unmarshal(val, &sc); err != nil {
		t.Fatal(err)
	}
	return sc, true
}

// doneClaim stores a settled claim for c, as the actor leaves it.
func doneClaim(t *testing.T, kv *memKV, c cloud.Copy, ref event.TriggerRef, outcome cloud.Outcome) {
	t.Helper()
	cl := claim{Trigger: ref, ImageID: c.ImageID, Region: c.Region, State: stateDone,
		Result: &event.Result{Trigger: ref, Outcome: string(outcome), ImageID: c.ImageID, Region: c.Region}}
	val, _ := json.Marshal(cl)
	if _, err := kv.Put(testCtx, copyKey(c), val); err != nil {
		t.Fatal(err)
	}
}

func TestLateCopyStartedKeepsListedProgress(t *testing.T) {
	l := newCountingLister()
	r := newRig(t, func(_ *rig, c *Config) { c.Lister = l })
	c := inflight("cn-hangzhou", "m-late0093", map[string]string{"cost-center": "ml"})
	l.listing["cn-hangzhou"] = []cloud.Copy{{ImageID: c.ImageID, Region: c.Region, Status: cloud.StatusCreating, Progress: 93}}
	if err := r.w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}
	mustAck(t, "late copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", c)))
	got, _ := r.w.Inventory().Get(c.Region, c.ImageID)
	sc, ok := storedIn(t, r.copies, c)
	for _, cp := range []cloud.Copy{got, sc.Copy} {
		if cp.Status != cloud.StatusCreating || cp.Progress != 93 {
			t.Errorf("after a late copy.started: %s at %d%%, want Creating at 93%%", cp.Status, cp.Progress)
		}
		if cp.SourceRegion != "cn-beijing" || cp.Tags["cost-center"] != "ml" {
			t.Errorf("copy.started's fields not merged: %+v", cp)
		}
	}
	if !ok {
		t.Fatal("copy not in the bucket")
	}
	// The watch may hand back the listing's older revision afterwards.
	old, _ := json.Marshal(storedCopy{Copy: cloud.Copy{ImageID: c.ImageID, Region: c.Region, Status: cloud.StatusWaiting}})
	r.w.ApplyCopy(copyKey(c), old, false)
	if got, _ := r.w.Inventory().Get(c.Region, c.ImageID); got.Progress != 93 || got.Status != cloud.StatusCreating {
		t.Errorf("a stale watch echo took the mirror back to %s at %d%%", got.Status, got.Progress)
	}
}

func TestCopyWritesAreCompareAndSet(t *testing.T) {
	r := newRig(t)
	c := inflight("cn-hangzhou", "m-cas00001", nil)
	if err := r.w.inv.putCopy(testCtx, c); err != nil {
		t.Fatal(err)
	}
	// Another writer moves the copy on between this writer's Get and
	// Update: the first Update conflicts, and the retry merges into it.
	var once sync.Once
	r.copies.fail = func(op, key string) error {
		if op == "update" {
			once.Do(func() {
				other := c
				other.Progress = 80
				val, _ := json.Marshal(storedCopy{Copy: other, SeenAt: r.clock.Now()})
				// fail runs under the memKV's lock: write the entry directly.
				r.copies.rev++
				r.copies.entries[key] = memEntry{val: val, rev: r.copies.rev}
			})
		}
		return nil
	}
	older := c
	older.Progress = 40
	older.Tags = map[string]string{"k": "v"}
	if err := r.w.inv.putCopy(testCtx, older); err != nil {
		t.Fatal(err)
	}
	sc, _ := storedIn(t, r.copies, c)
	if sc.Progress != 80 || sc.Tags["k"] != "v" {
		t.Errorf("stored %+v, want the other writer's 80%% kept and this writer's tags merged", sc.Copy)
	}
}

func TestListingDoesNotResurrect(t *testing.T) {
	q := refOf("q-1", event.TypeRegionQuarantined)
	setup := func(t *testing.T) (*rig, *countingLister) {
		l := newCountingLister()
		r := newRig(t, func(_ *rig, c *Config) { c.Lister = l })
		// A quarantine is in force: a copy that counts as new gets decided.
		mustAck(t, "quarantine", r.w.HandleTrigger(testCtx, quarantine(t, "q-1", "cn-hangzhou")))
		r.pub.reset()
		return r, l
	}
	noTrace := func(t *testing.T, r *rig, c cloud.Copy) {
		t.Helper()
		if _, ok := r.w.Inventory().Get(c.Region, c.ImageID); ok {
			t.Error("copy back in the mirror")
		}
		if _, ok := storedIn(t, r.copies, c); ok {
			t.Error("copy back in the bucket")
		}
		if n := len(r.pub.with("copyguard.decision")); n != 0 {
			t.Errorf("published %d decisions for a copy that is not new", n)
		}
		if n := len(r.pub.with("copyguard.job.")); n != 0 {
			t.Errorf("queued %d jobs for a copy that is not new", n)
		}
	}

	for _, outcome := range []cloud.Outcome{cloud.OutcomeCancelled, cloud.OutcomeAlreadyGone, cloud.OutcomeCompleted, cloud.OutcomeNotCancellable} {
		t.Run("claim done "+string(outcome), func(t *testing.T) {
			r, l := setup(t)
			c := inflight("cn-hangzhou", "m-cncl0001", nil)
			doneClaim(t, r.claims, c, q, outcome)
			l.listing["cn-hangzhou"] = []cloud.Copy{c}
			if err := r.w.Reconcile(testCtx); err != nil {
				t.Fatal(err)
			}
			noTrace(t, r, c)
		})
	}

	t.Run("claim being acted on", func(t *testing.T) {
		r, l := setup(t)
		c := inflight("cn-hangzhou", "m-actn0001", nil)
		doneClaim(t, r.claims, c, q, cloud.OutcomeCancelled)
		r.setClaim(t, copyKey(c), func(cl *claim) { cl.State, cl.Result = stateCalling, nil })
		l.listing["cn-hangzhou"] = []cloud.Copy{c}
		if err := r.w.Reconcile(testCtx); err != nil {
			t.Fatal(err)
		}
		noTrace(t, r, c)
	})

	t.Run("claim done failed: still in flight, added", func(t *testing.T) {
		l := newCountingLister()
		r := newRig(t, func(_ *rig, c *Config) { c.Lister = l })
		c := inflight("cn-hangzhou", "m-fail0001", nil)
		doneClaim(t, r.claims, c, q, cloud.OutcomeFailed)
		l.listing["cn-hangzhou"] = []cloud.Copy{c}
		if err := r.w.Reconcile(testCtx); err != nil {
			t.Fatal(err)
		}
		if _, ok := storedIn(t, r.copies, c); !ok {
			t.Error("a copy whose cancel failed was not added back")
		}
	})

	t.Run("removed while the listing ran", func(t *testing.T) {
		r, l := setup(t)
		c := inflight("cn-hangzhou", "m-rmvd0001", nil)
		l.listing["cn-hangzhou"] = []cloud.Copy{c}
		// The listing took its snapshot; then another replica cancelled the
		// copy and the watch reports the delete before the listing answers.
		l.during = func(string) {
			r.clock.Advance(time.Second)
			r.w.ApplyCopy(copyKey(c), nil, true)
		}
		if err := r.w.Reconcile(testCtx); err != nil {
			t.Fatal(err)
		}
		noTrace(t, r, c)
	})

	t.Run("own removal while the listing ran", func(t *testing.T) {
		r, l := setup(t)
		c := inflight("cn-hangzhou", "m-rmvd0002", nil)
		if err := r.w.inv.putCopy(testCtx, c); err != nil {
			t.Fatal(err)
		}
		l.listing["cn-hangzhou"] = []cloud.Copy{c}
		l.during = func(string) {
			r.clock.Advance(time.Second)
			mustAck(t, "copy.finished", r.w.HandleInventory(testCtx, copyFinishedMsg(t, "e-f", c)))
		}
		if err := r.w.Reconcile(testCtx); err != nil {
			t.Fatal(err)
		}
		noTrace(t, r, c)
	})

	t.Run("removed before the listing started: added", func(t *testing.T) {
		l := newCountingLister()
		r := newRig(t, func(_ *rig, c *Config) { c.Lister = l })
		c := inflight("cn-hangzhou", "m-rmvd0003", nil)
		r.w.ApplyCopy(copyKey(c), nil, true)
		r.clock.Advance(time.Second)
		l.listing["cn-hangzhou"] = []cloud.Copy{c}
		if err := r.w.Reconcile(testCtx); err != nil {
			t.Fatal(err)
		}
		if _, ok := storedIn(t, r.copies, c); !ok {
			t.Error("a copy listed after its removal was not added")
		}
	})

	t.Run("copy.started older than copy.finished", func(t *testing.T) {
		r, _ := setup(t)
		c := inflight("cn-hangzhou", "m-rmvd0004", nil)
		r.clock.Advance(time.Minute) // the removal is after the event's time
		mustAck(t, "copy.finished", r.w.HandleInventory(testCtx, copyFinishedMsg(t, "e-f", c)))
		mustAck(t, "late copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-s", c)))
		noTrace(t, r, c)
	})

	t.Run("copy.started for a cancelled copy", func(t *testing.T) {
		r, _ := setup(t)
		c := inflight("cn-hangzhou", "m-cncl0002", nil)
		doneClaim(t, r.claims, c, q, cloud.OutcomeCancelled)
		mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-s", c)))
		noTrace(t, r, c)
	})
}

// replicas builds n workers on the same buckets, each with its own
// publisher and mirror, as n processes on one NATS cluster.
func replicas(t *testing.T, n int, l Lister, leases KV) []*rig {
	t.Helper()
	var rs []*rig
	for k := range n {
		rs = append(rs, newRig(t, func(r *rig, c *Config) {
			c.Instance = "test-" + string(rune('1'+k))
			c.Lister, c.Leases = l, leases
			if k > 0 {
				r.claims, r.copies, r.conditions, r.limits, r.clock = rs[0].claims, rs[0].copies, rs[0].conditions, rs[0].limits, rs[0].clock
				c.Claims, c.Copies, c.Conditions, c.Limits, c.Now = r.claims, r.copies, r.conditions, r.limits, r.clock.Now
			}
		}))
	}
	return rs
}

func TestOneListingPerRegion(t *testing.T) {
	l := newCountingLister()
	leases := newMemKV()
	rs := replicas(t, 3, l, leases)
	regions := []string{"cn-hangzhou"}
	for round := range 3 {
		for _, r := range rs {
			if err := r.w.Reconcile(testCtx); err != nil {
				t.Fatal(err)
			}
		}
		for _, region := range regions {
			if n := l.count(region); n != round+1 {
				t.Fatalf("round %d: %s listed %d times in all, want %d (once a round)", round, region, n, round+1)
			}
		}
		e, ok := leases.entry(reconcileLeaseKey("cn-hangzhou"))
		if !ok || e.ttl != leaseTTL(time.Minute) && round == 0 {
			t.Errorf("round %d: lease %+v present %v, want ttl %v", round, e, ok, leaseTTL(time.Minute))
		}
		rs[0].clock.Advance(time.Minute) // ReconcileEvery: the lease has run out
	}
	skipped := 0.0
	for _, r := range rs {
		skipped += counterValue(t, r.w.inv.m.Reconciles.WithLabelValues("cn-hangzhou", "skipped"))
	}
	if skipped != 6 {
		t.Errorf("skipped rounds = %v, want 6", skipped)
	}

	if _, ok := rs[0].limits.entry(limiterKey(apiDescribe, "cn-hangzhou")); !ok {
		t.Errorf("the listing did not take the fleet's describe budget; limits bucket holds %v", rs[0].limits.keys())
	}

	t.Run("a lease whose until passed is taken over", func(t *testing.T) {
		// An Update dropped the key's TTL: only the value says it expired.
		val, _ := json.Marshal(lease{By: "gone", Until: rs[0].clock.Now().Add(-time.Second)})
		if _, err := leases.Put(testCtx, reconcileLeaseKey("cn-hangzhou"), val); err != nil {
			t.Fatal(err)
		}
		before := l.count("cn-hangzhou")
		if err := rs[1].w.Reconcile(testCtx); err != nil {
			t.Fatal(err)
		}
		if l.count("cn-hangzhou") != before+1 {
			t.Error("an expired lease was not taken over")
		}
	})
}

func TestOnlyTheCreatorJudges(t *testing.T) {
	l := newCountingLister()
	rs := replicas(t, 2, l, nil) // no leases: both list, as two rounds that overlap
	mustAck(t, "quarantine", rs[0].w.HandleTrigger(testCtx, quarantine(t, "q-1", "cn-hangzhou")))
	for _, k := range rs[0].conditions.keys() {
		e, _ := rs[0].conditions.entry(k)
		rs[1].w.ApplyCondition(k, e.val, false)
	}
	rs[0].pub.reset()
	var cs []cloud.Copy
	for _, id := range []string{"m-new00001", "m-new00002", "m-new00003", "m-new00004"} {
		cs = append(cs, inflight("cn-hangzhou", id, nil))
	}
	l.listing["cn-hangzhou"] = cs
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			if err := r.w.Reconcile(testCtx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, c := range cs {
		var decisions []string
		for _, r := range rs {
			for _, p := range r.pub.with("copyguard.decision") {
				if strings.HasSuffix(p.MsgID, ":"+copyKey(c)) {
					decisions = append(decisions, p.MsgID)
				}
			}
		}
		if len(decisions) != 1 {
			t.Errorf("%s: %d decisions published by the two replicas, want 1: %v", c.ImageID, len(decisions), decisions)
		}
		if sc, _ := storedIn(t, rs[0].copies, c); sc.JudgePending {
			t.Errorf("%s still marked to be judged", c.ImageID)
		}
	}
}

func TestJudgeTakenOverAfterFailure(t *testing.T) {
	r := newRig(t)
	mustAck(t, "quarantine", r.w.HandleTrigger(testCtx, quarantine(t, "q-1", "cn-hangzhou")))
	r.pub.reset()
	r.pub.fail = func(subject, _ string) error {
		if subject == "copyguard.decision" {
			return errBoom
		}
		return nil
	}
	c := inflight("cn-hangzhou", "m-judg0001", nil)
	m := copyStartedMsg(t, "e-1", c)
	if v := r.w.HandleInventory(testCtx, m); v.Kind != Nak {
		t.Fatalf("verdict = %v, want nak while the decision cannot be published", v.Kind)
	}
	if sc, ok := storedIn(t, r.copies, c); !ok || !sc.JudgePending {
		t.Fatalf("stored %+v (present %v), want it marked to be judged", sc, ok)
	}
	r.pub.fail = nil
	m.Delivered = 2
	mustAck(t, "redelivered copy.started", r.w.HandleInventory(testCtx, m))
	if n := len(r.pub.with("copyguard.decision")); n != 1 {
		t.Errorf("published %d decisions after the redelivery, want 1", n)
	}
	if sc, _ := storedIn(t, r.copies, c); sc.JudgePending {
		t.Error("still marked to be judged")
	}
}

func TestListingRetries(t *testing.T) {
	throttled := &cloud.APIError{Code: "Throttling.User", HTTPStatus: 400, Message: "Request was denied due to user flow control."}
	unavailable := &cloud.APIError{Code: "ServiceUnavailable", HTTPStatus: 503}
	badKey := &cloud.APIError{Code: "InvalidAccessKeyId.NotFound", HTTPStatus: 404}
	c := inflight("cn-hangzhou", "m-list0001", nil)
	known := inflight("cn-hangzhou", "m-knwn0001", nil)

	setup := func(t *testing.T, errs ...error) (*rig, *countingLister, *countLimiter) {
		l := newCountingLister()
		l.errs = errs
		l.listing["cn-hangzhou"] = []cloud.Copy{c}
		lim := &countLimiter{}
		r := newRig(t, func(_ *rig, cfg *Config) { cfg.Lister, cfg.Leases = l, newMemKV() })
		r.w.inv.describeLimiter = func(region string) callLimiter {
			if region != "cn-hangzhou" {
				t.Errorf("limiter for %s", region)
			}
			return lim
		}
		if err := r.w.inv.putCopy(testCtx, known); err != nil {
			t.Fatal(err)
		}
		return r, l, lim
	}

	t.Run("throttled, then listed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, l, lim := setup(t, throttled, throttled, throttled, throttled, throttled, throttled)
			if err := r.w.Reconcile(testCtx); err != nil {
				t.Fatalf("reconcile = %v, want throttling waited out", err)
			}
			if l.count("cn-hangzhou") != 7 || lim.waits.Load() != 7 || lim.throttled.Load() != 6 || lim.succeeded.Load() != 1 {
				t.Errorf("calls %d, limiter waits %d throttled %d succeeded %d; want 7, 7, 6, 1",
					l.count("cn-hangzhou"), lim.waits.Load(), lim.throttled.Load(), lim.succeeded.Load())
			}
			if _, ok := r.w.Inventory().Get(c.Region, c.ImageID); !ok {
				t.Error("inventory not filled")
			}
			if ls := r.w.Listings(); ls[0].LastError != "" || ls[0].LastListed.IsZero() {
				t.Errorf("listing status %+v, want listed without error", ls[0])
			}
			if err := r.w.InventoryReady(testCtx, r.clock.Now()); err != nil {
				t.Error(err)
			}
		})
	})

	t.Run("unavailable, then listed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, l, _ := setup(t, unavailable, unavailable)
			if err := r.w.Reconcile(testCtx); err != nil {
				t.Fatal(err)
			}
			if l.count("cn-hangzhou") != 3 {
				t.Errorf("calls = %d, want 3", l.count("cn-hangzhou"))
			}
		})
	})

	t.Run("unavailable every time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, l, _ := setup(t, unavailable, unavailable, unavailable, unavailable, unavailable, unavailable)
			err := r.w.Reconcile(testCtx)
			if err == nil || !strings.Contains(err.Error(), "ServiceUnavailable") {
				t.Errorf("reconcile = %v", err)
			}
			if l.count("cn-hangzhou") != listAttempts {
				t.Errorf("calls = %d, want %d", l.count("cn-hangzhou"), listAttempts)
			}
			if ls := r.w.Listings(); ls[0].Permanent || ls[0].LastError == "" {
				t.Errorf("listing status %+v, want a retryable error", ls[0])
			}
			if _, ok := r.w.Inventory().Get(known.Region, known.ImageID); !ok {
				t.Error("a failed listing removed a copy")
			}
		})
	})

	t.Run("permanent error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, l, _ := setup(t, badKey)
			revs := r.copies.keys()
			err := r.w.Reconcile(testCtx)
			if err == nil || !strings.Contains(err.Error(), "cn-hangzhou") || !strings.Contains(err.Error(), "InvalidAccessKeyId.NotFound") {
				t.Errorf("reconcile = %v, want the region and the code", err)
			}
			if l.count("cn-hangzhou") != 1 {
				t.Errorf("calls = %d, want 1: retrying cannot help", l.count("cn-hangzhou"))
			}
			ls := r.w.Listings()
			if len(ls) != 1 || ls[0].Region != "cn-hangzhou" || !ls[0].Permanent || !strings.Contains(ls[0].LastError, "InvalidAccessKeyId.NotFound") || !ls[0].LastListed.IsZero() {
				t.Errorf("listings = %+v", ls)
			}
			if got := r.copies.keys(); len(got) != len(revs) {
				t.Errorf("inventory changed: %v, was %v", got, revs)
			}
			if _, ok := r.w.Inventory().Get(c.Region, c.ImageID); ok {
				t.Error("a failed listing added a copy")
			}
			if counterValue(t, r.w.inv.m.Reconciles.WithLabelValues("cn-hangzhou", "error")) != 1 {
				t.Error("error not counted")
			}
			// The failed lister gives the lease up, so another replica may try.
			if _, ok := r.w.inv.cfg.Leases.(*memKV).entry(reconcileLeaseKey("cn-hangzhou")); ok {
				t.Error("lease kept after a failed listing")
			}
			if err := r.w.InventoryReady(testCtx, r.clock.Now()); err == nil {
				t.Error("ready without a listing")
			}
			if h := r.w.CloudHealth(); len(h) != 1 || !h[0].Permanent || h[0].API != apiDescribe {
				t.Errorf("cloud health = %+v, want the describe call's permanent error", h)
			}
			// The error is shared with the replicas that did not list.
			var rec listingRecord
			e, _ := r.w.inv.cfg.Leases.(*memKV).entry(listedKey("cn-hangzhou"))
			if err := json.Unmarshal(e.val, &rec); err != nil || !rec.Permanent {
				t.Errorf("record = %+v, %v", rec, err)
			}
		})
	})
}

func TestInventoryReady(t *testing.T) {
	l := newCountingLister()
	leases := newMemKV()
	rs := replicas(t, 2, l, leases)
	for _, r := range rs {
		err := r.w.InventoryReady(testCtx, r.clock.Now())
		if want := "inventory not ready: never listed completely: cn-hangzhou"; err == nil || err.Error() != want {
			t.Errorf("%s before any listing: %v, want %q", r.w.inv.cfg.Instance, err, want)
		}
	}
	if err := rs[0].w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}
	if err := rs[0].w.InventoryReady(testCtx, rs[0].clock.Now()); err != nil {
		t.Errorf("lister: %v", err)
	}
	// The other replica did not list, but reads the record.
	if err := rs[1].w.InventoryReady(testCtx, rs[1].clock.Now()); err != nil {
		t.Errorf("other replica: %v", err)
	}
	if ls := rs[1].w.Listings(); ls[0].ListedBy != "test-1" {
		t.Errorf("other replica's listings = %+v", ls)
	}
	later := rs[0].clock.Now().Add(2*time.Minute + time.Second)
	for _, r := range rs {
		want := "inventory not ready: no complete listing in the last 2m0s: cn-hangzhou"
		if err := r.w.InventoryReady(testCtx, later); err == nil || err.Error() != want {
			t.Errorf("%s with a listing older than two rounds: %v, want %q", r.w.inv.cfg.Instance, err, want)
		}
	}

	t.Run("no lister or no regions: ready at once", func(t *testing.T) {
		r := newRig(t)
		if err := r.w.InventoryReady(testCtx, r.clock.Now()); err != nil {
			t.Error(err)
		}
		r = newRig(t, func(_ *rig, c *Config) { c.Lister, c.Regions = l, nil })
		if err := r.w.InventoryReady(testCtx, r.clock.Now()); err != nil {
			t.Error(err)
		}
	})
}

func TestCopyStartedInTheFuture(t *testing.T) {
	r := newRig(t)
	c := inflight("cn-hangzhou", "m-futr0001", nil)
	c.StartedAt = time.Time{}
	m := copyStartedMsgAt(t, "e-1", c, r.clock.Now().Add(16*time.Minute))
	mustAck(t, "copy.started from the future", r.w.HandleInventory(testCtx, m))
	rej := r.pub.with("copyguard.rejected")
	if len(rej) != 1 {
		t.Fatalf("published %+v, want one rejection", r.pub.all())
	}
	var got event.Rejected
	decodeEvent(t, rej[0], &got)
	if got.Field != "data.started_at" {
		t.Errorf("rejected field %q (%s), want data.started_at", got.Field, got.Reason)
	}
	if keys := r.copies.keys(); len(keys) != 0 {
		t.Errorf("stored %v", keys)
	}
	// Within the allowed skew it is taken.
	mustAck(t, "copy.started 10m ahead", r.w.HandleInventory(testCtx, copyStartedMsgAt(t, "e-2", c, r.clock.Now().Add(10*time.Minute))))
	if _, ok := storedIn(t, r.copies, c); !ok {
		t.Error("copy.started 10 minutes ahead not stored")
	}
}

func TestRemovalGraceByObservation(t *testing.T) {
	l := newCountingLister()
	r := newRig(t, func(_ *rig, c *Config) { c.Lister = l })
	ahead := inflight("cn-hangzhou", "m-ahed0001", nil)
	mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsgAt(t, "e-1", ahead, r.clock.Now().Add(10*time.Minute))))
	// A copy an older worker stored with a start in year 9999.
	legacy := inflight("cn-hangzhou", "m-lgcy0001", nil)
	legacy.StartedAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	val, _ := json.Marshal(legacy)
	if _, err := r.copies.Put(testCtx, copyKey(legacy), val); err != nil {
		t.Fatal(err)
	}
	r.w.ApplyCopy(copyKey(legacy), val, false)

	r.clock.Advance(30 * time.Second)
	if err := r.w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}
	if _, ok := storedIn(t, r.copies, ahead); !ok {
		t.Error("a copy observed 30s before the listing was removed: grace not applied")
	}
	r.clock.Advance(90 * time.Second)
	if err := r.w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []cloud.Copy{ahead, legacy} {
		if _, ok := storedIn(t, r.copies, c); ok {
			t.Errorf("%s: not listed, observed 2m before, still in the bucket", c.ImageID)
		}
		if _, ok := r.w.Inventory().Get(c.Region, c.ImageID); ok {
			t.Errorf("%s: still in the mirror", c.ImageID)
		}
	}
}

func TestStoredCopyReadsOldValues(t *testing.T) {
	old := `{"image_id":"m-old00001","region":"cn-hangzhou","status":"Creating","progress":20,"started_at":"2025-03-01T11:00:00Z"}`
	r := newRig(t)
	r.w.ApplyCopy("cn-hangzhou.m-old00001", []byte(old), false)
	got, ok := r.w.Inventory().Get("cn-hangzhou", "m-old00001")
	if !ok || got.Progress != 20 || got.Status != cloud.StatusCreating {
		t.Errorf("old value read as %+v (present %v)", got, ok)
	}
	sc := decodeStored([]byte(old))
	if !sc.SeenAt.IsZero() || sc.JudgePending || !sc.since(r.clock.Now()).Equal(sc.StartedAt) {
		t.Errorf("old value = %+v", sc)
	}
}

// counterValue reads one counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
