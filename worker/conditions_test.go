package worker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/copyguard/copyguard/event"
)

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
		mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsgAt(t, "e-0", early, time.Now())))
		if _, ok := r.claim(t, copyKey(early)); !ok {
			t.Error("a copy started a second before active_for ran out was not claimed")
		}
		time.Sleep(2 * time.Second)
		c := inflight("cn-hangzhou", "m-late0001", nil)
		mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsgAt(t, "e-1", c, time.Now())))
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
