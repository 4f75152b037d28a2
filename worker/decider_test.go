package worker

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

func TestHandleTriggerRejects(t *testing.T) {
	valid := budgetTrigger(t, "t-ok", "ml")
	tests := []struct {
		name    string
		msg     Msg
		field   string
		contain string // in the reason
	}{
		{
			name:    "malformed JSON",
			msg:     Msg{Subject: "copyguard.trigger.budget.exceeded", Data: []byte(`{"specversion":"1.0",`)},
			contain: "JSON",
		},
		{
			name:    "type does not match the subject",
			msg:     Msg{Subject: "copyguard.trigger.region.quarantined", Data: valid.Data},
			field:   "type",
			contain: "region.quarantined",
		},
		{
			name:    "not an input subject",
			msg:     Msg{Subject: "copyguard.elsewhere", Data: valid.Data},
			contain: "not an input subject",
		},
		{
			name: "missing required data",
			msg: triggerMsg(t, event.TypeBudgetExceeded, "t-bad", map[string]any{
				"budget": "team", "scope": map[string]any{"tags": map[string]any{"cost-center": "ml"}},
			}),
			field: "data.percent",
		},
		{
			name:  "bad region",
			msg:   triggerMsg(t, event.TypeRegionQuarantined, "t-bad", map[string]any{"region": "Hangzhou!", "reason": "x"}),
			field: "data.region",
		},
		{
			name:  "inventory type on a trigger subject",
			msg:   Msg{Subject: "copyguard.trigger.copy.started", Data: copyStartedMsg(t, "e-1", inflight("cn-hangzhou", "m-aaaa0001", nil)).Data},
			field: "type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.w.Inventory().Put(inflight("cn-hangzhou", "m-aaaa0001", map[string]string{"cost-center": "ml"}))
			tt.msg.Delivered = 1

			v := r.w.HandleTrigger(testCtx, tt.msg)

			if v.Kind != Ack {
				t.Errorf("verdict = %v (%s), want ack: bad input is not retried", v.Kind, v.Reason)
			}
			all := r.pub.all()
			if len(all) != 1 || all[0].Subject != "copyguard.rejected" {
				t.Fatalf("published %+v, want exactly one rejection", all)
			}
			if !strings.HasPrefix(all[0].MsgID, "rejected:") {
				t.Errorf("msg id = %q", all[0].MsgID)
			}
			var rej event.Rejected
			decodeEvent(t, all[0], &rej)
			if err := rej.Validate(); err != nil {
				t.Errorf("rejection does not validate: %v", err)
			}
			if rej.Field != tt.field {
				t.Errorf("field = %q, want %q (reason %q)", rej.Field, tt.field, rej.Reason)
			}
			if rej.Reason == "" || !strings.Contains(rej.Reason, tt.contain) {
				t.Errorf("reason = %q, want it to mention %q", rej.Reason, tt.contain)
			}
			if rej.Subject != tt.msg.Subject || rej.Original != string(tt.msg.Data) || rej.Instance != "test-1" {
				t.Errorf("rejection = %+v", rej)
			}
			if keys := r.claims.keys(); len(keys) != 0 {
				t.Errorf("claims %v made for a rejected trigger", keys)
			}

			// The same input is rejected under the same id, so a redelivery
			// is deduplicated.
			r.w.HandleTrigger(testCtx, tt.msg)
			if again := r.pub.all(); len(again) != 2 || again[1].MsgID != all[0].MsgID {
				t.Errorf("second rejection id %v, want %q", again, all[0].MsgID)
			}
		})
	}
}

func TestHandleTriggerRejectsLongBody(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"cut on a character boundary", strings.Repeat("é", 3<<10)},
		{"cut inside a character", "a" + strings.Repeat("é", 3<<10)},
		{"invalid UTF-8", strings.Repeat("\xff", 6<<10)},
		{"short invalid UTF-8", "{\xff\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			v := r.w.HandleTrigger(testCtx, Msg{Subject: "copyguard.trigger.budget.exceeded", Data: []byte(tt.body), Delivered: 1})
			if v.Kind != Ack {
				t.Fatalf("verdict = %v", v.Kind)
			}
			var rej event.Rejected
			decodeEvent(t, r.pub.all()[0], &rej)
			if rej.Truncated != (len(tt.body) > event.MaxOriginal) {
				t.Errorf("truncated = %v for a %d-byte body", rej.Truncated, len(tt.body))
			}
			if err := rej.Validate(); err != nil {
				t.Errorf("rejection does not validate: %v", err)
			}
		})
	}
}

func TestHandleTriggerRejectionPublishFails(t *testing.T) {
	r := newRig(t)
	r.pub.fail = func(string, string) error { return errBoom }
	v := r.w.HandleTrigger(testCtx, Msg{Subject: "copyguard.trigger.budget.exceeded", Data: []byte("{"), Delivered: 1})
	if v.Kind != Nak {
		t.Errorf("verdict = %v, want nak: the rejection was not stored", v.Kind)
	}
}

// triggerFixture is an inventory with two selected copies in two regions,
// one copy of another team and one protected copy.
var (
	copyA = inflight("cn-hangzhou", "m-aaaa0001", map[string]string{"cost-center": "ml"})
	copyB = inflight("cn-shanghai", "m-bbbb0001", map[string]string{"cost-center": "ml"})
	copyC = inflight("cn-hangzhou", "m-cccc0001", map[string]string{"cost-center": "web"})
	copyD = inflight("cn-hangzhou", "m-dddd0001", map[string]string{"cost-center": "ml", "protect": "true"})
)

func fixtureRig(t *testing.T, adjust ...func(*rig, *Config)) *rig {
	r := newRig(t, adjust...)
	for _, c := range []cloud.Copy{copyA, copyB, copyC, copyD} {
		if err := r.w.inv.putCopy(testCtx, c); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func ids(dcs []event.DecidedCopy) []string {
	out := []string{}
	for _, d := range dcs {
		out = append(out, d.Region+"."+d.ImageID)
	}
	slices.Sort(out)
	return out
}

func TestHandleTriggerClaimsAndQueues(t *testing.T) {
	r := fixtureRig(t)
	m := budgetTrigger(t, "t-1", "ml")
	ref := refOf("t-1", event.TypeBudgetExceeded)
	tk := triggerKey(ref)

	if v := r.w.HandleTrigger(testCtx, m); v.Kind != Ack {
		t.Fatalf("verdict = %v (%s)", v.Kind, v.Reason)
	}

	// A claim, in state decided, for each selected copy and nothing else.
	wantKeys := []string{copyKey(copyA), copyKey(copyB)}
	if got := r.claims.keys(); !slices.Equal(got, wantKeys) {
		t.Errorf("claims = %v, want %v", got, wantKeys)
	}
	// A job per claim, on its region's subject, naming the claim's revision.
	jobs := r.pub.with("copyguard.job.")
	if len(jobs) != 2 {
		t.Fatalf("published %d jobs, want 2", len(jobs))
	}
	for _, p := range jobs {
		var j job
		if err := json.Unmarshal(p.Body, &j); err != nil {
			t.Fatal(err)
		}
		key := copyKey(j.Copy)
		if p.Subject != "copyguard.job."+j.Copy.Region {
			t.Errorf("job for %s on subject %s", key, p.Subject)
		}
		if want := "job:" + key + ":" + tk; p.MsgID != want {
			t.Errorf("job msg id = %q, want %q", p.MsgID, want)
		}
		c, _ := r.claim(t, key)
		e, _ := r.claims.entry(key)
		if j.ClaimRev != e.rev || j.Trigger != ref || c.State != stateDecided || c.Trigger != ref || c.Owner != "test-1" {
			t.Errorf("job %+v for claim rev %d %+v", j, e.rev, c)
		}
		if !slices.Equal(j.Policies, []string{"budget"}) {
			t.Errorf("job policies = %v", j.Policies)
		}
	}
	// The protected copy gets its result now, and no claim.
	res := r.results(t)
	if len(res) != 1 || res[0].Outcome != "protected" || res[0].ImageID != copyD.ImageID || !slices.Equal(res[0].Policies, []string{"golden"}) {
		t.Errorf("results = %+v, want one protected for %s by golden", res, copyD.ImageID)
	}
	if p := r.pub.with("copyguard.result.")[0]; p.MsgID != "result:"+copyKey(copyD)+":"+tk+":protected" {
		t.Errorf("protected result msg id = %q", p.MsgID)
	}
	// The decision comes last: it is the trigger's receipt.
	all := r.pub.all()
	if last := all[len(all)-1]; last.Subject != "copyguard.decision" || last.MsgID != "decision:"+tk {
		t.Errorf("last publish = %s %s, want the decision with id decision:%s", last.Subject, last.MsgID, tk)
	}
	d := r.decision(t)
	if err := d.Validate(); err != nil {
		t.Errorf("decision does not validate: %v", err)
	}
	if got := ids(d.Cancel); !slices.Equal(got, wantKeys) {
		t.Errorf("decision cancel = %v, want %v", got, wantKeys)
	}
	if got := ids(d.Protected); !slices.Equal(got, []string{copyKey(copyD)}) {
		t.Errorf("decision protected = %v", got)
	}
	if len(d.Held)+len(d.Planned)+len(d.AlreadyDecided) != 0 || d.DryRun || d.Paused || d.Trigger != ref || !slices.Contains(d.Fired, "budget") {
		t.Errorf("decision = %+v", d)
	}

	t.Run("a second trigger finds the copies already decided", func(t *testing.T) {
		r.pub.reset()
		if v := r.w.HandleTrigger(testCtx, budgetTrigger(t, "t-2", "ml")); v.Kind != Ack {
			t.Fatalf("verdict = %v (%s)", v.Kind, v.Reason)
		}
		d := r.decision(t)
		if got := ids(d.AlreadyDecided); !slices.Equal(got, wantKeys) || len(d.Cancel) != 0 {
			t.Errorf("already_decided = %v cancel = %v, want %v and none", got, ids(d.Cancel), wantKeys)
		}
		for _, dc := range d.AlreadyDecided {
			if !strings.Contains(dc.Reason, "t-1") {
				t.Errorf("already_decided reason %q does not name the first trigger", dc.Reason)
			}
		}
		if jobs := r.pub.with("copyguard.job."); len(jobs) != 0 {
			t.Errorf("the second trigger queued %d jobs", len(jobs))
		}
		if c, _ := r.claim(t, copyKey(copyA)); c.Trigger != ref {
			t.Errorf("claim moved to trigger %s", c.Trigger.ID)
		}
	})

	t.Run("a redelivery of the first trigger queues the same jobs again", func(t *testing.T) {
		r.pub.reset()
		m.Delivered = 2
		if v := r.w.HandleTrigger(testCtx, m); v.Kind != Ack {
			t.Fatalf("verdict = %v (%s)", v.Kind, v.Reason)
		}
		var got []string
		for _, p := range r.pub.with("copyguard.job.") {
			got = append(got, p.MsgID)
		}
		slices.Sort(got)
		want := []string{"job:" + copyKey(copyA) + ":" + tk, "job:" + copyKey(copyB) + ":" + tk}
		if !slices.Equal(got, want) {
			t.Errorf("job ids = %v, want %v (the same ids, so NATS deduplicates)", got, want)
		}
		if d := r.decision(t); !slices.Equal(ids(d.Cancel), wantKeys) {
			t.Errorf("redelivered decision cancel = %v, want %v", ids(d.Cancel), wantKeys)
		}
	})
}

func TestHandleTriggerWithoutClaims(t *testing.T) {
	tests := []struct {
		name    string
		adjust  func(*rig, *Config)
		before  func(*rig)
		outcome string
		list    func(event.Decision) []event.DecidedCopy
		reason  string
	}{
		{
			name:    "dry run",
			adjust:  func(_ *rig, c *Config) { c.DryRun = true },
			outcome: "planned",
			list:    func(d event.Decision) []event.DecidedCopy { return d.Planned },
			reason:  "dry run",
		},
		{
			name: "paused",
			before: func(r *rig) {
				r.w.ApplyControl(PauseKey, []byte(`{"paused":true,"reason":"incident 7"}`), false)
			},
			outcome: "held",
			list:    func(d event.Decision) []event.DecidedCopy { return d.Held },
			reason:  "paused: incident 7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var adjust []func(*rig, *Config)
			if tt.adjust != nil {
				adjust = append(adjust, tt.adjust)
			}
			r := fixtureRig(t, adjust...)
			if tt.before != nil {
				tt.before(r)
			}
			if v := r.w.HandleTrigger(testCtx, budgetTrigger(t, "t-1", "ml")); v.Kind != Ack {
				t.Fatalf("verdict = %v (%s)", v.Kind, v.Reason)
			}
			if keys := r.claims.keys(); len(keys) != 0 {
				t.Errorf("claims = %v, want none", keys)
			}
			if jobs := r.pub.with("copyguard.job."); len(jobs) != 0 {
				t.Errorf("queued %d jobs, want none", len(jobs))
			}
			var got []string
			for _, res := range r.results(t) {
				if res.Outcome == "protected" {
					continue
				}
				if res.Outcome != tt.outcome || !strings.Contains(res.Reason, tt.reason) || res.DryRun != (tt.outcome == "planned") {
					t.Errorf("result = %+v, want %s because %q", res, tt.outcome, tt.reason)
				}
				if err := res.Validate(); err != nil {
					t.Errorf("result does not validate: %v", err)
				}
				got = append(got, copyKey(cloud.Copy{Region: res.Region, ImageID: res.ImageID}))
			}
			slices.Sort(got)
			want := []string{copyKey(copyA), copyKey(copyB)}
			if !slices.Equal(got, want) {
				t.Errorf("%s results for %v, want %v", tt.outcome, got, want)
			}
			d := r.decision(t)
			if l := ids(tt.list(d)); !slices.Equal(l, want) || len(d.Cancel) != 0 {
				t.Errorf("decision %s = %v, cancel = %v", tt.outcome, l, ids(d.Cancel))
			}
			if d.DryRun != (tt.name == "dry run") || d.Paused != (tt.name == "paused") {
				t.Errorf("decision dry_run %v paused %v", d.DryRun, d.Paused)
			}
		})
	}
}

func TestHandleTriggerRetriesWhenDependenciesFail(t *testing.T) {
	failOn := func(prefix string) func(*rig, *Config) {
		return func(r *rig, _ *Config) {
			r.pub.fail = func(subject, _ string) error {
				if strings.HasPrefix(subject, prefix) {
					return errBoom
				}
				return nil
			}
		}
	}
	tests := []struct {
		name   string
		adjust func(*rig, *Config)
		what   string // in the nak reason
	}{
		{"job publish fails", failOn("copyguard.job."), "apply decision"},
		{"result publish fails", failOn("copyguard.result."), "apply decision"},
		{"decision publish fails", failOn("copyguard.decision"), "publish decision"},
		{"claims bucket fails", func(r *rig, _ *Config) {
			r.claims.fail = func(string, string) error { return errBoom }
		}, "apply decision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixtureRig(t, tt.adjust)
			m := budgetTrigger(t, "t-1", "ml")
			v := r.w.HandleTrigger(testCtx, m)
			if v.Kind != Nak {
				t.Fatalf("verdict = %v, want nak", v.Kind)
			}
			if v.Delay <= 0 || v.Delay > retryCap(m.Delivered) {
				t.Errorf("nak delay = %v, want in (0, %v]", v.Delay, retryCap(m.Delivered))
			}
			if !strings.Contains(v.Reason, tt.what) || !strings.Contains(v.Reason, "boom") {
				t.Errorf("nak reason = %q, want %q and the cause", v.Reason, tt.what)
			}
			if tt.what != "publish decision" && len(r.pub.with("copyguard.decision")) != 0 {
				t.Error("a decision was published for a trigger that will be retried")
			}

			// Once the dependency is back, the redelivery completes the
			// decision, and the copies claimed on the first try are not
			// reported as already decided.
			r.pub.fail, r.claims.fail = nil, nil
			r.pub.reset()
			m.Delivered = 2
			if v := r.w.HandleTrigger(testCtx, m); v.Kind != Ack {
				t.Fatalf("redelivery verdict = %v (%s)", v.Kind, v.Reason)
			}
			d := r.decision(t)
			if want := []string{copyKey(copyA), copyKey(copyB)}; !slices.Equal(ids(d.Cancel), want) || len(d.AlreadyDecided) != 0 {
				t.Errorf("redelivered decision cancel %v already_decided %v", ids(d.Cancel), ids(d.AlreadyDecided))
			}
			if jobs := r.pub.with("copyguard.job."); len(jobs) != 2 {
				t.Errorf("redelivery queued %d jobs, want 2", len(jobs))
			}
		})
	}
}

// retryCap is the largest delay retryLater may ask for.
func retryCap(delivered int) time.Duration {
	return min(250*time.Millisecond<<delivered, 10*time.Second)
}

// TestHandleTriggerPublisherPanics: when the publisher itself panics, the
// rejection cannot be published either; the trigger is handed back with a
// delay rather than crashing the process.
func TestHandleTriggerPublisherPanics(t *testing.T) {
	r := newRig(t)
	r.pub.fail = func(string, string) error { panic("publisher broke") }
	m := triggerMsg(t, "cancel.requested", "t-pp", map[string]any{"image_id": "m-none0001", "region": "cn-hangzhou", "reason": "x"})
	v := r.w.HandleTrigger(testCtx, m)
	if v.Kind != Nak || v.Delay <= 0 {
		t.Fatalf("verdict %+v, want a delayed nak", v)
	}
	if n := len(r.pub.all()); n != 0 {
		t.Errorf("%d messages published", n)
	}
}
