package worker

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// series returns the label values and counts of a counter vector in reg.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, lp := range m.GetLabel() {
				key += lp.GetValue()
			}
			out[key] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestTriggerTypeLabelBounded: 5,000 made-up trigger types make one
// `other` series in copyguard_triggers_total, besides the types a policy
// or the built-in list names.
func TestTriggerTypeLabelBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newRig(t, func(_ *rig, c *Config) { c.Registerer = reg })
	for i := range 5000 {
		m := triggerMsg(t, fmt.Sprintf("made.up-%d", i), fmt.Sprintf("t-%d", i), map[string]any{})
		if v := r.w.HandleTrigger(testCtx, m); v.Kind != Ack {
			t.Fatalf("trigger %d: %+v", i, v)
		}
	}
	r.w.HandleTrigger(testCtx, budgetTrigger(t, "b-1", "team-a"))
	got := series(t, reg, "copyguard_triggers_total")
	if len(got) != 2 || got[OtherLabel] != 5000 || got["budget.exceeded"] != 1 {
		t.Errorf("copyguard_triggers_total: %v, want other 5000 and budget.exceeded 1", got)
	}
}

func TestLabelCap(t *testing.T) {
	l := newLabels([]string{"cn-hangzhou"})
	for i := range 5000 {
		l.region(fmt.Sprintf("xx-%d", i))
		l.code(fmt.Sprintf("Code.%d", i))
	}
	if got := l.region("cn-hangzhou"); got != "cn-hangzhou" {
		t.Errorf("configured region became %q", got)
	}
	if got := l.region("xx-0"); got != "xx-0" {
		t.Errorf("an early region became %q", got)
	}
	if got := l.region("xx-4999"); got != OtherLabel {
		t.Errorf("region past the cap is %q", got)
	}
	if got := l.code(""); got != "" {
		t.Errorf("success code became %q", got)
	}
	if got := l.code("Code.4999"); got != OtherLabel {
		t.Errorf("code past the cap is %q", got)
	}
	if n := len(l.regions.extra); n != maxExtraRegions {
		t.Errorf("%d extra regions kept", n)
	}
}
