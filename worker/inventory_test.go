package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

func copyStartedMsg(t *testing.T, id string, c cloud.Copy) Msg {
	t.Helper()
	data := map[string]any{"image_id": c.ImageID, "region": c.Region}
	if c.SourceRegion != "" {
		data["source_region"] = c.SourceRegion
	}
	if len(c.Tags) > 0 {
		data["tags"] = c.Tags
	}
	ev, err := event.New(event.TypeCopyStarted, "test", id, "", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), data)
	if err != nil {
		t.Fatal(err)
	}
	body, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return Msg{Subject: "copyguard.copy.started", Data: body, Delivered: 1, InProgress: func() {}}
}

func copyFinishedMsg(t *testing.T, id string, c cloud.Copy) Msg {
	t.Helper()
	ev, err := event.New(event.TypeCopyFinished, "test", id, "", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		map[string]any{"image_id": c.ImageID, "region": c.Region, "status": cloud.StatusAvailable})
	if err != nil {
		t.Fatal(err)
	}
	body, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return Msg{Subject: "copyguard.copy.finished", Data: body, Delivered: 1, InProgress: func() {}}
}

func quarantine(t *testing.T, id, region string) Msg {
	return triggerMsg(t, event.TypeRegionQuarantined, id, map[string]any{"region": region, "reason": "incident", "incident": "inc-1"})
}

func release(t *testing.T, id string, data map[string]any) Msg {
	return triggerMsg(t, event.TypeRegionReleased, id, data)
}

func mustAck(t *testing.T, what string, v Verdict) {
	t.Helper()
	if v.Kind != Ack {
		t.Fatalf("%s: verdict = %v (%s), want ack", what, v.Kind, v.Reason)
	}
}

func TestConditions(t *testing.T) {
	r := newRig(t)
	q := refOf("q-1", event.TypeRegionQuarantined)
	tk := triggerKey(q)
	condKey := conditionKey("quarantine", q)

	mustAck(t, "quarantine", r.w.HandleTrigger(testCtx, quarantine(t, "q-1", "cn-hangzhou")))

	e, ok := r.conditions.entry(condKey)
	if !ok {
		t.Fatalf("no condition stored; bucket holds %v", r.conditions.keys())
	}
	if e.ttl != time.Hour {
		t.Errorf("condition ttl = %v, want active_for 1h", e.ttl)
	}
	var c condition
	if err := json.Unmarshal(e.val, &c); err != nil {
		t.Fatal(err)
	}
	if c.Policy != "quarantine" || c.Ref != q || !c.Expires.Equal(r.clock.Now().Add(time.Hour)) || c.Trigger.Data["region"] != "cn-hangzhou" {
		t.Errorf("condition = %+v", c)
	}

	// A copy that starts in the quarantined region is claimed and queued.
	late := inflight("cn-hangzhou", "m-late0001", map[string]string{"team": "x"})
	r.pub.reset()
	mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", late)))
	if _, _, err := r.copies.Get(testCtx, copyKey(late)); err != nil {
		t.Errorf("started copy not in the inventory bucket: %v", err)
	}
	cl, ok := r.claim(t, copyKey(late))
	if !ok || cl.Trigger != q || !slices.Equal(cl.Policies, []string{"quarantine"}) {
		t.Fatalf("claim = %+v (present %v), want one for the quarantine", cl, ok)
	}
	jobs := r.pub.with("copyguard.job.")
	if len(jobs) != 1 || jobs[0].Subject != "copyguard.job.cn-hangzhou" || jobs[0].MsgID != "job:"+copyKey(late)+":"+tk {
		t.Errorf("jobs = %+v", jobs)
	}
	ds := r.pub.with("copyguard.decision")
	if len(ds) != 1 || ds[0].MsgID != "decision:"+tk+":"+copyKey(late) {
		t.Fatalf("decisions = %+v", ds)
	}
	var d event.Decision
	decodeEvent(t, ds[0], &d)
	if !slices.Equal(ids(d.Cancel), []string{copyKey(late)}) || d.Trigger != q {
		t.Errorf("decision = %+v", d)
	}

	// Another region is not quarantined.
	other := inflight("cn-shanghai", "m-othr0001", nil)
	mustAck(t, "copy.started elsewhere", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-2", other)))
	if _, ok := r.claim(t, copyKey(other)); ok {
		t.Error("a copy in another region was claimed")
	}

	// A release of another region, or of another incident, leaves the quarantine.
	for _, data := range []map[string]any{
		{"region": "cn-shanghai"},
		{"region": "cn-hangzhou", "incident": "inc-2"},
	} {
		mustAck(t, fmt.Sprint("release ", data), r.w.HandleTrigger(testCtx, release(t, fmt.Sprint("r-", data), data)))
		if _, ok := r.conditions.entry(condKey); !ok || len(r.w.inv.activeConditions(r.clock.Now())) != 1 {
			t.Fatalf("release %v ended the cn-hangzhou quarantine", data)
		}
	}

	// The release of that region ends it, in the bucket and in memory.
	mustAck(t, "release", r.w.HandleTrigger(testCtx, release(t, "r-1", map[string]any{"region": "cn-hangzhou", "incident": "inc-1"})))
	if _, ok := r.conditions.entry(condKey); ok {
		t.Error("condition still in the bucket after its release")
	}
	if n := len(r.w.inv.activeConditions(r.clock.Now())); n != 0 {
		t.Errorf("%d conditions active after the release", n)
	}
	after := inflight("cn-hangzhou", "m-aftr0001", nil)
	mustAck(t, "copy.started after release", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-3", after)))
	if _, ok := r.claim(t, copyKey(after)); ok {
		t.Error("a copy started after the release was claimed")
	}
}

// TestConditionExpires runs on the worker's default clock inside a
// synctest bubble: the quarantine holds until active_for has passed on
// the clock and no longer.
func TestConditionExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(_ *rig, c *Config) { c.Now = nil })
		mustAck(t, "quarantine", r.w.HandleTrigger(testCtx, quarantine(t, "q-1", "cn-hangzhou")))
		time.Sleep(time.Hour - time.Second)
		early := inflight("cn-hangzhou", "m-erly0001", nil)
		mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-0", early)))
		if _, ok := r.claim(t, copyKey(early)); !ok {
			t.Error("a copy started a second before active_for ran out was not claimed")
		}
		time.Sleep(2 * time.Second)
		c := inflight("cn-hangzhou", "m-late0001", nil)
		mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", c)))
		if _, ok := r.claim(t, copyKey(c)); ok {
			t.Error("a copy started after active_for was claimed")
		}
		if n := len(r.w.inv.activeConditions(time.Now())); n != 0 {
			t.Errorf("%d conditions active after active_for", n)
		}
	})
}

func TestConditionProtectStillApplies(t *testing.T) {
	r := newRig(t)
	mustAck(t, "quarantine", r.w.HandleTrigger(testCtx, quarantine(t, "q-1", "cn-hangzhou")))
	r.pub.reset()
	c := inflight("cn-hangzhou", "m-gold0001", map[string]string{"protect": "true"})
	mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", c)))
	if _, ok := r.claim(t, copyKey(c)); ok {
		t.Error("a protected copy was claimed")
	}
	if res := r.results(t); len(res) != 1 || res[0].Outcome != "protected" {
		t.Errorf("results = %+v, want one protected", res)
	}
}

func TestConditionStoreFails(t *testing.T) {
	r := newRig(t)
	r.conditions.fail = func(string, string) error { return errBoom }
	v := r.w.HandleTrigger(testCtx, quarantine(t, "q-1", "cn-hangzhou"))
	if v.Kind != Nak || !strings.Contains(v.Reason, "record conditions") {
		t.Errorf("verdict = %v (%s), want nak: the condition was not stored", v.Kind, v.Reason)
	}
	if n := len(r.pub.with("copyguard.decision")); n != 0 {
		t.Errorf("published %d decisions before the condition was stored", n)
	}
}

func TestSameScope(t *testing.T) {
	cond := map[string]any{"region": "cn-hangzhou", "incident": "inc-1", "reason": "x"}
	tests := []struct {
		name    string
		cond    map[string]any
		release map[string]any
		want    bool
	}{
		{"same region", cond, map[string]any{"region": "cn-hangzhou"}, true},
		{"same region and incident", cond, map[string]any{"region": "cn-hangzhou", "incident": "inc-1"}, true},
		{"other region", cond, map[string]any{"region": "cn-shanghai"}, false},
		{"other incident", cond, map[string]any{"region": "cn-hangzhou", "incident": "inc-2"}, false},
		{"release names nothing", cond, map[string]any{}, true},
		{"empty values match all", cond, map[string]any{"region": "", "incident": ""}, true},
		{"condition without incident, release with one", map[string]any{"region": "cn-hangzhou"}, map[string]any{"region": "cn-hangzhou", "incident": "inc-1"}, false},
		{"other keys are ignored", cond, map[string]any{"region": "cn-hangzhou", "reason": "y"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameScope(tt.cond, tt.release); got != tt.want {
				t.Errorf("sameScope(%v, %v) = %v, want %v", tt.cond, tt.release, got, tt.want)
			}
		})
	}
}

func TestHandleInventory(t *testing.T) {
	t.Run("started then finished", func(t *testing.T) {
		r := newRig(t)
		c := inflight("cn-hangzhou", "m-inv00001", map[string]string{"cost-center": "ml"})
		mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", c)))
		val, _, err := r.copies.Get(testCtx, copyKey(c))
		if err != nil {
			t.Fatal(err)
		}
		var stored cloud.Copy
		if err := json.Unmarshal(val, &stored); err != nil {
			t.Fatal(err)
		}
		if stored.Status != cloud.StatusWaiting || stored.SourceRegion != "cn-beijing" || stored.Tags["cost-center"] != "ml" {
			t.Errorf("stored copy = %+v", stored)
		}
		if _, ok := r.w.Inventory().Get(c.Region, c.ImageID); !ok {
			t.Error("started copy not in the in-memory index")
		}
		mustAck(t, "copy.finished", r.w.HandleInventory(testCtx, copyFinishedMsg(t, "e-2", c)))
		if _, _, err := r.copies.Get(testCtx, copyKey(c)); err == nil {
			t.Error("finished copy still in the inventory bucket")
		}
		if _, ok := r.w.Inventory().Get(c.Region, c.ImageID); ok {
			t.Error("finished copy still in the in-memory index")
		}
		if len(r.pub.all()) != 0 {
			t.Errorf("inventory events published %+v", r.pub.all())
		}
	})

	t.Run("a repeated copy.started keeps the progress already seen", func(t *testing.T) {
		r := newRig(t)
		c := inflight("cn-hangzhou", "m-inv00002", nil)
		c.Status, c.Progress = cloud.StatusWaiting, 40
		r.w.Inventory().Put(c)
		mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", c)))
		if got, _ := r.w.Inventory().Get(c.Region, c.ImageID); got.Progress != 40 {
			t.Errorf("progress = %d, want 40 kept", got.Progress)
		}
	})

	for _, tt := range []struct {
		name  string
		msg   func(t *testing.T) Msg
		field string
	}{
		{"a trigger on the inventory subject", func(t *testing.T) Msg {
			m := budgetTrigger(t, "t-1", "ml")
			m.Subject = "copyguard.copy.started"
			return m
		}, "type"},
		{"copy.started without a region", func(t *testing.T) Msg {
			m := copyStartedMsg(t, "e-1", cloud.Copy{ImageID: "m-inv00003", Region: "cn-hangzhou"})
			m.Data = []byte(strings.Replace(string(m.Data), `"region":"cn-hangzhou"`, `"regio":"cn-hangzhou"`, 1))
			return m
		}, "data.region"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			mustAck(t, "inventory", r.w.HandleInventory(testCtx, tt.msg(t)))
			rej := r.pub.with("copyguard.rejected")
			if len(rej) != 1 || len(r.pub.all()) != 1 {
				t.Fatalf("published %+v, want one rejection", r.pub.all())
			}
			var got event.Rejected
			decodeEvent(t, rej[0], &got)
			if got.Field != tt.field {
				t.Errorf("field = %q (%s), want %q", got.Field, got.Reason, tt.field)
			}
			if keys := r.copies.keys(); len(keys) != 0 {
				t.Errorf("rejected input stored %v", keys)
			}
		})
	}

	t.Run("inventory bucket fails", func(t *testing.T) {
		r := newRig(t)
		r.copies.fail = func(string, string) error { return errBoom }
		v := r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", inflight("cn-hangzhou", "m-inv00004", nil)))
		if v.Kind != Nak {
			t.Errorf("verdict = %v, want nak", v.Kind)
		}
	})
}

func TestMergeCopy(t *testing.T) {
	started := cloud.Copy{
		ImageID: "m-1", Region: "cn-hangzhou", SourceImageID: "m-src", SourceRegion: "cn-beijing",
		Status: cloud.StatusWaiting, Progress: 0, SizeGB: 40, Tags: map[string]string{"a": "1"},
		StartedAt: time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC), Name: "img", ResourceGroupID: "rg-abcd1234",
	}
	listed := cloud.Copy{ImageID: "m-1", Region: "cn-hangzhou", Status: cloud.StatusCreating, Progress: 30}
	tests := []struct {
		name     string
		old, new cloud.Copy
		want     cloud.Copy
	}{
		{
			name: "a listing keeps what only copy.started knows",
			old:  started, new: listed,
			want: func() cloud.Copy { c := started; c.Status, c.Progress = cloud.StatusCreating, 30; return c }(),
		},
		{
			name: "the newer side's fields win",
			old:  started,
			new: cloud.Copy{ImageID: "m-1", Region: "cn-hangzhou", SourceRegion: "cn-qingdao", Status: cloud.StatusCreating,
				Progress: 50, Tags: map[string]string{"b": "2"}, SizeGB: 80},
			want: func() cloud.Copy {
				c := started
				c.SourceRegion, c.Status, c.Progress, c.Tags, c.SizeGB = "cn-qingdao", cloud.StatusCreating, 50, map[string]string{"b": "2"}, 80
				return c
			}(),
		},
		{
			name: "progress never goes back within a status",
			old:  func() cloud.Copy { c := listed; c.Progress = 60; return c }(), new: listed,
			want: func() cloud.Copy { c := listed; c.Progress = 60; return c }(),
		},
		{
			name: "a new status brings its own progress",
			old:  func() cloud.Copy { c := listed; c.Status, c.Progress = cloud.StatusWaiting, 60; return c }(), new: listed,
			want: listed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mergeCopy(tt.old, tt.new); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mergeCopy =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// listerFunc adapts a function to Lister.
type listerFunc func(ctx context.Context, region string) ([]cloud.Copy, error)

func (f listerFunc) ListCopies(ctx context.Context, region string) ([]cloud.Copy, error) {
	return f(ctx, region)
}

func TestReconcile(t *testing.T) {
	listing := map[string][]cloud.Copy{}
	var listErr error
	r := newRig(t, func(_ *rig, c *Config) {
		c.Regions = []string{"cn-hangzhou", "cn-shanghai"}
		c.Lister = listerFunc(func(_ context.Context, region string) ([]cloud.Copy, error) {
			if region == "cn-shanghai" && listErr != nil {
				return nil, listErr
			}
			return slices.Clone(listing[region]), nil
		})
	})
	now := r.clock.Now()
	at := func(region, id string, started time.Time, progress int) cloud.Copy {
		c := inflight(region, id, nil)
		c.StartedAt, c.Progress = started, progress
		return c
	}
	gone := at("cn-hangzhou", "m-gone0001", now.Add(-2*time.Hour), 10)
	moving := at("cn-hangzhou", "m-move0001", now.Add(-time.Hour), 10)
	still := at("cn-hangzhou", "m-stil0001", now.Add(-time.Hour), 70)
	fresh := at("cn-hangzhou", "m-frsh0001", now.Add(-30*time.Second), 0) // announced, not yet listed
	added := at("cn-hangzhou", "m-addd0001", now.Add(-10*time.Minute), 5)
	shanghai := at("cn-shanghai", "m-shan0001", now.Add(-3*time.Hour), 10)
	for _, c := range []cloud.Copy{gone, moving, still, fresh, shanghai} {
		if err := r.w.inv.putCopy(testCtx, c); err != nil {
			t.Fatal(err)
		}
	}
	stillRev := func() uint64 { e, _ := r.copies.entry(copyKey(still)); return e.rev }
	revBefore := stillRev()

	// DescribeImages knows nothing of the source.
	listedMoving := cloud.Copy{ImageID: moving.ImageID, Region: moving.Region, Status: cloud.StatusCreating, Progress: 55}
	listedStill := cloud.Copy{ImageID: still.ImageID, Region: still.Region, Status: still.Status, Progress: still.Progress}
	listing["cn-hangzhou"] = []cloud.Copy{listedMoving, listedStill, added}
	listing["cn-shanghai"] = []cloud.Copy{shanghai}

	if err := r.w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}

	inBucket := func(c cloud.Copy) (cloud.Copy, bool) {
		val, _, err := r.copies.Get(testCtx, copyKey(c))
		if err != nil {
			return cloud.Copy{}, false
		}
		var got cloud.Copy
		if err := json.Unmarshal(val, &got); err != nil {
			t.Fatal(err)
		}
		return got, true
	}
	for _, tt := range []struct {
		name string
		c    cloud.Copy
		want bool
	}{
		{"gone from the listing: removed", gone, false},
		{"updated", moving, true},
		{"unchanged", still, true},
		{"started less than a minute before the listing: kept", fresh, true},
		{"new in the listing: added", added, true},
		{"another region", shanghai, true},
	} {
		_, inIndex := r.w.Inventory().Get(tt.c.Region, tt.c.ImageID)
		_, inKV := inBucket(tt.c)
		if inIndex != tt.want || inKV != tt.want {
			t.Errorf("%s: in index %v, in bucket %v, want %v", tt.name, inIndex, inKV, tt.want)
		}
	}
	if got, _ := inBucket(moving); got.Progress != 55 || got.SourceRegion != "cn-beijing" || got.SourceImageID != "m-src0001" {
		t.Errorf("updated copy = %+v, want progress 55 with the source kept", got)
	}
	if stillRev() != revBefore {
		t.Error("an unchanged copy was written again")
	}

	t.Run("a failing region does not stop the others", func(t *testing.T) {
		listErr = errBoom
		listing["cn-hangzhou"] = []cloud.Copy{listedMoving, listedStill}
		err := r.w.Reconcile(testCtx)
		if err == nil || !strings.Contains(err.Error(), "cn-shanghai") {
			t.Errorf("err = %v, want one naming cn-shanghai", err)
		}
		if _, ok := r.w.Inventory().Get(added.Region, added.ImageID); ok {
			t.Error("cn-hangzhou was not reconciled")
		}
		if _, ok := r.w.Inventory().Get(shanghai.Region, shanghai.ImageID); !ok {
			t.Error("a region whose listing failed lost its copies")
		}
	})
}

func TestReconcileAppliesConditions(t *testing.T) {
	var listing []cloud.Copy
	r := newRig(t, func(_ *rig, c *Config) {
		c.Lister = listerFunc(func(context.Context, string) ([]cloud.Copy, error) { return listing, nil })
	})
	mustAck(t, "quarantine", r.w.HandleTrigger(testCtx, quarantine(t, "q-1", "cn-hangzhou")))
	c := inflight("cn-hangzhou", "m-seen0001", nil)
	listing = []cloud.Copy{c}
	if err := r.w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}
	if cl, ok := r.claim(t, copyKey(c)); !ok || cl.Trigger.ID != "q-1" {
		t.Errorf("a copy found by reconcile under a quarantine: claim %+v present %v", cl, ok)
	}
	// Seen again: already known, not judged (or claimed) twice.
	r.pub.reset()
	listing[0].Progress = 90
	if err := r.w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.pub.with("copyguard.decision")); n != 0 {
		t.Errorf("a known copy was judged again (%d decisions)", n)
	}
}

func TestReconcileWithoutLister(t *testing.T) {
	r := newRig(t)
	if err := r.w.Reconcile(testCtx); err != nil {
		t.Errorf("Reconcile without a lister = %v", err)
	}
}
