package worker

import (
	"slices"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// previewOf runs Preview on the rig's own state for the trigger in m.
func previewOf(t *testing.T, r *rig, m Msg, dryRun bool) map[string]Previewed {
	t.Helper()
	ev, err := event.Decode(m.Data, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := event.DecodeTrigger(ev)
	if err != nil {
		t.Fatal(err)
	}
	trig := policy.Trigger{ID: ev.ID, Type: ev.Type, Source: ev.Source, Subject: ev.Subject, Time: ev.Time, Data: data}
	cfg := PreviewConfig{Claims: r.claims, DryRun: dryRun}
	if p, ok := r.w.inv.Paused(); ok {
		cfg.Pause = &p
	}
	_, ps, err := Preview(testCtx, r.w.decider.Policies(), trig, r.w.inv.index, cfg, r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Previewed{}
	for _, p := range ps {
		out[copyKey(p.Copy)] = p
	}
	return out
}

// decided turns a decision event into the same shape as a preview.
func decided(d event.Decision) map[string]Previewed {
	out := map[string]Previewed{}
	for _, l := range []struct {
		action string
		dcs    []event.DecidedCopy
	}{{"cancel", d.Cancel}, {"protect", d.Protected}, {"held", d.Held}, {"planned", d.Planned}, {ActionAlreadyDecided, d.AlreadyDecided}} {
		for _, dc := range l.dcs {
			out[copyKeyOf(dc.Region, dc.ImageID)] = Previewed{Copy: cloud.Copy{Region: dc.Region, ImageID: dc.ImageID}, Action: l.action, Policies: dc.Policies, Reason: dc.Reason}
		}
	}
	return out
}

// TestPreviewAgreesWithTheDecider: for the same inventory, claims and
// pause switch, Preview says what HandleTrigger then decides, copy by
// copy, and writes nothing doing so.
func TestPreviewAgreesWithTheDecider(t *testing.T) {
	tests := []struct {
		name    string
		dryRun  bool
		prepare func(t *testing.T, r *rig)
		want    map[string]string // key → action
	}{
		{"fresh", false, func(*testing.T, *rig) {},
			map[string]string{copyKey(copyA): "cancel", copyKey(copyB): "cancel", copyKey(copyD): "protect"}},
		{"paused", false, func(_ *testing.T, r *rig) {
			r.w.ApplyControl(PauseKey, []byte(`{"paused":true,"reason":"incident 7"}`), false)
		}, map[string]string{copyKey(copyA): "held", copyKey(copyB): "held", copyKey(copyD): "protect"}},
		{"dry run", true, func(*testing.T, *rig) {},
			map[string]string{copyKey(copyA): "planned", copyKey(copyB): "planned", copyKey(copyD): "protect"}},
		{"claimed by an earlier trigger", false, func(t *testing.T, r *rig) {
			if v := r.w.HandleTrigger(testCtx, budgetTrigger(t, "t-0", "ml")); v.Kind != Ack {
				t.Fatalf("earlier trigger: %v", v)
			}
			r.setClaim(t, copyKey(copyB), func(c *claim) {
				c.State = stateDone
				c.Result = &event.Result{Outcome: string(cloud.OutcomeFailed), ErrorCode: "Forbidden.RAM"}
			})
			r.pub.reset()
		}, map[string]string{copyKey(copyA): ActionAlreadyDecided, copyKey(copyB): ActionAlreadyDecided, copyKey(copyD): "protect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixtureRig(t, func(_ *rig, c *Config) { c.DryRun = tt.dryRun })
			tt.prepare(t, r)
			m := budgetTrigger(t, "t-1", "ml")
			claimsBefore, pubBefore := r.claims.keys(), len(r.pub.all())

			preview := previewOf(t, r, m, tt.dryRun)
			if got := r.claims.keys(); !slices.Equal(got, claimsBefore) || len(r.pub.all()) != pubBefore {
				t.Fatalf("Preview wrote: claims %v (were %v), %d publishes", got, claimsBefore, len(r.pub.all())-pubBefore)
			}
			if v := r.w.HandleTrigger(testCtx, m); v.Kind != Ack {
				t.Fatalf("verdict = %v (%s)", v.Kind, v.Reason)
			}
			dec := decided(r.decision(t))
			if len(preview) != len(dec) || len(preview) != len(tt.want) {
				t.Fatalf("preview has %d copies, the decision %d, want %d:\n%+v\n%+v", len(preview), len(dec), len(tt.want), preview, dec)
			}
			for key, want := range tt.want {
				p, d := preview[key], dec[key]
				if p.Action != want || d.Action != want {
					t.Errorf("%s: preview %q, decided %q, want %q", key, p.Action, d.Action, want)
				}
				if !slices.Equal(p.Policies, d.Policies) || p.Reason != d.Reason {
					t.Errorf("%s: preview %v %q, decided %v %q", key, p.Policies, p.Reason, d.Policies, d.Reason)
				}
			}
		})
	}
}

// TestReadHelpers: the exported views read what the worker writes.
func TestReadHelpers(t *testing.T) {
	r := fixtureRig(t)
	if v := r.w.HandleTrigger(testCtx, budgetTrigger(t, "t-1", "ml")); v.Kind != Ack {
		t.Fatalf("verdict = %v", v)
	}
	e, ok := r.copies.entry(copyKey(copyA))
	if !ok {
		t.Fatal("no copy A")
	}
	ce, err := ReadCopy(e.val)
	if err != nil || ce.ImageID != copyA.ImageID || ce.Progress != copyA.Progress || ce.Tags["cost-center"] != "ml" || ce.SeenAt.IsZero() {
		t.Errorf("ReadCopy = %+v, %v", ce, err)
	}

	e, _ = r.claims.entry(copyKey(copyA))
	ci, err := ReadClaim(e.val)
	if err != nil || ci.State != "decided" || ci.Trigger.ID != "t-1" || ci.Owner != "test-1" || ci.Region != copyA.Region ||
		ci.DecidedBy != "already decided by trigger t-1 (budget.exceeded): decided" {
		t.Errorf("ReadClaim = %+v, %v", ci, err)
	}
	r.setClaim(t, copyKey(copyA), func(c *claim) {
		c.State = stateDone
		c.Result = &event.Result{Outcome: string(cloud.OutcomeFailed)}
	})
	e, _ = r.claims.entry(copyKey(copyA))
	if ci, _ := ReadClaim(e.val); ci.State != ClaimFailed {
		t.Errorf("done with a failed result reads as %q", ci.State)
	}
	for _, s := range ClaimStates() {
		if s != ClaimFailed && claimState(s).String() != s {
			t.Errorf("ClaimStates lists %q, not a claim state", s)
		}
	}
	if _, err := ReadClaim([]byte("{")); err == nil {
		t.Error("ReadClaim took a broken value")
	}

	q := triggerMsg(t, event.TypeRegionQuarantined, "q-1", map[string]any{"region": "cn-hangzhou", "reason": "incident"})
	if v := r.w.HandleTrigger(testCtx, q); v.Kind != Ack {
		t.Fatalf("quarantine: %v", v)
	}
	keys := r.conditions.keys()
	if len(keys) != 1 {
		t.Fatalf("conditions %v", keys)
	}
	e, _ = r.conditions.entry(keys[0])
	cond, err := ReadCondition(e.val)
	if err != nil || cond.Policy != "quarantine" || cond.Trigger.ID != "q-1" || cond.Region != "cn-hangzhou" ||
		!cond.Expires.Equal(r.clock.Now().Add(time.Hour)) {
		t.Errorf("ReadCondition = %+v, %v", cond, err)
	}
	if CopyKey("cn-hangzhou", "m-1") != "cn-hangzhou.m-1" {
		t.Error("CopyKey")
	}
}
