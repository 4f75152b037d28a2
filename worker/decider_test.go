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
	if got := r.claims.copyKeys(); !slices.Equal(got, wantKeys) {
		t.Errorf("claims = %v, want %v", got, wantKeys)
	}
	// And the record of what the trigger's id stands for.
	if _, ok := r.claims.entry(triggerIDKey(ref)); !ok {
		t.Errorf("no trigger id record %s", triggerIDKey(ref))
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
			if keys := r.claims.copyKeys(); len(keys) != 0 {
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
			r.claims.fail = func(_, key string) error {
				if strings.HasPrefix(key, "trigger.") {
					return nil
				}
				return errBoom
			}
		}, "apply decision"},
		{"trigger id record fails", func(r *rig, _ *Config) {
			r.claims.fail = func(string, string) error { return errBoom }
		}, "check trigger id"},
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
