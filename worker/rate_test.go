package worker

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/copyguard/copyguard/policy"
)

const ratePolicies = `
policies:
  - {name: capped, on: [x], match: 'copy.tags["team"] == "a"', action: cancel, max_rate: "3/10m"}
  - {name: free, on: [x], match: 'copy.tags["free"] == "y"', action: cancel}
  - {name: other, on: [x], match: 'copy.tags["team"] == "a"', action: cancel, max_rate: "1/1h"}
`

func rateSet(t *testing.T) *policy.Set {
	t.Helper()
	set, err := policy.Parse("rate.yaml", []byte(ratePolicies))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestRateWindowSlides: 3 per 10 minutes, any 10 minutes, across two
// replicas sharing the bucket; a grant asked for again takes no slot.
func TestRateWindowSlides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := rateSet(t)
		kv := newMemKV()
		a, b := newRates(kv, time.Now), newRates(kv, time.Now)
		take := func(rs *rates, id string) bool {
			t.Helper()
			held, err := rs.admit(testCtx, set, []string{"capped"}, id)
			if err != nil {
				t.Fatal(err)
			}
			return held == ""
		}
		if !take(a, "g1") || !take(b, "g2") {
			t.Fatal("first two grants refused")
		}
		time.Sleep(4 * time.Minute)
		if !take(a, "g3") {
			t.Fatal("third grant refused")
		}
		if !take(b, "g1") {
			t.Error("a grant asked for again was refused")
		}
		held, err := b.admit(testCtx, set, []string{"capped"}, "g4")
		if err != nil || held != `held: max_rate 3/10m of policy "capped" reached` {
			t.Fatalf("fourth grant: %q, %v", held, err)
		}
		// 10 minutes after g1 and g2 two slots free up, not three.
		time.Sleep(6*time.Minute + time.Nanosecond)
		if !take(a, "g4") || !take(b, "g5") {
			t.Fatal("slots of expired grants not reused")
		}
		if take(a, "g6") {
			t.Fatal("a sliding window must still count g3")
		}
		time.Sleep(4 * time.Minute)
		if !take(b, "g6") {
			t.Fatal("g3's slot not freed")
		}
		var v rateValue
		val, _, err := kv.Get(testCtx, rateKey("capped"))
		if err != nil {
			t.Fatal(err)
		}
		mustJSON(t, val, &v)
		if v.Policy != "capped" || v.Rate != "3/10m" || len(v.Grants) != 3 {
			t.Errorf("stored window %+v, want capped 3/10m with 3 grants", v)
		}
	})
}

// TestRateWindowConcurrent: many replicas at once grant exactly N.
func TestRateWindowConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := rateSet(t)
		kv := newMemKV()
		var mu sync.Mutex
		granted := 0
		var wg sync.WaitGroup
		for r := range 4 {
			rs := newRates(kv, time.Now)
			for i := range 5 {
				wg.Go(func() {
					held, err := rs.admit(testCtx, set, []string{"capped"}, fmt.Sprintf("r%d-%d", r, i))
					if err != nil {
						t.Error(err)
					}
					if held == "" {
						mu.Lock()
						granted++
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		if granted != 3 {
			t.Errorf("granted %d, want 3", granted)
		}
	})
}

// TestRateAdmitPolicies: one policy's cap does not speak for another.
func TestRateAdmitPolicies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := rateSet(t)
		rs := newRates(newMemKV(), time.Now)
		for _, id := range []string{"a", "b"} {
			if held, _ := rs.admit(testCtx, set, []string{"capped", "other"}, id); held != "" {
				t.Fatalf("%s: %s", id, held)
			}
		}
		// other is full (1/1h), capped has one slot left: allowed.
		if held, _ := rs.admit(testCtx, set, []string{"capped", "other"}, "c"); held != "" {
			t.Fatalf("c: %s", held)
		}
		held, _ := rs.admit(testCtx, set, []string{"capped", "other"}, "d")
		if want := `held: max_rate 3/10m of policy "capped" reached; max_rate 1/1h of policy "other" reached`; held != want {
			t.Errorf("d: %q, want %q", held, want)
		}
		// A policy without max_rate lets it through.
		if held, _ := rs.admit(testCtx, set, []string{"capped", "free"}, "e"); held != "" {
			t.Errorf("with an uncapped policy: %s", held)
		}
		if capped(set, []string{"free"}) || !capped(set, []string{"free", "other"}) {
			t.Error("capped")
		}
	})
}

// TestDecideMaxRate: the decider holds the cancels beyond the window, and
// a redelivered trigger takes no second slot.
func TestDecideMaxRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(r *rig, c *Config) {
			set, err := policy.Parse("p.yaml", []byte(`
policies:
  - {name: budget, on: [budget.exceeded], match: 'copy.tags["cost-center"] == "ml"', action: cancel, max_rate: "2/1m"}
`))
			if err != nil {
				t.Fatal(err)
			}
			c.Policies, c.Now = set, time.Now
		})
		for i := range 3 {
			if err := r.w.inv.putCopy(testCtx, inflight("cn-hangzhou", fmt.Sprintf("m-rate%04d", i), map[string]string{"cost-center": "ml"})); err != nil {
				t.Fatal(err)
			}
		}
		m := budgetTrigger(t, "t-rate", "ml")
		if v := r.w.HandleTrigger(testCtx, m); v.Kind != Ack {
			t.Fatalf("verdict %+v", v)
		}
		d := r.decision(t)
		if len(d.Cancel) != 2 || len(d.Held) != 1 || d.Held[0].Reason != `held: max_rate 2/1m of policy "budget" reached` {
			t.Fatalf("decision cancel %v held %v", d.Cancel, d.Held)
		}
		rs := r.results(t)
		if len(rs) != 1 || rs[0].Outcome != "held" || !rs[0].Final || rs[0].Reason != d.Held[0].Reason {
			t.Errorf("results %+v, want one final held", rs)
		}
		if _, ok := r.claim(t, copyKey(inflight("cn-hangzhou", d.Held[0].ImageID, nil))); ok {
			t.Error("a held copy was claimed")
		}
		// Redelivered: the two claimed copies take no new slot.
		r.pub.reset()
		m.Delivered = 2
		if v := r.w.HandleTrigger(testCtx, m); v.Kind != Ack {
			t.Fatalf("redelivery verdict %+v", v)
		}
		if d := r.decision(t); len(d.Cancel) != 2 {
			t.Errorf("redelivery: cancel %v", d.Cancel)
		}
		val, _, _ := r.limits.Get(testCtx, rateKey("budget"))
		var v rateValue
		mustJSON(t, val, &v)
		if len(v.Grants) != 2 {
			t.Errorf("grants %d, want 2", len(v.Grants))
		}
	})
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
