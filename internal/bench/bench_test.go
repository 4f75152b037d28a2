package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBenchSmoke runs every scenario at toy sizes and checks that the
// report has a finite number for every figure and a verdict for every
// figure with a target. It does not check the verdicts: toy sizes on a
// test machine say nothing about speed.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS and the simulator six times")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := DefaultOptions()
	// The fleet scenario runs copyguard run processes; this test binary
	// cannot stand in for copyguard (cmd/copyguard's TestBenchFleet does).
	o.Scenarios = slices.DeleteFunc(o.Scenarios, func(s string) bool { return s == "fleet" })
	o.JSON = true
	o.LatencyN, o.LatencyWarmup = 5, 1
	o.FanoutN, o.FanoutRegions, o.FanoutQPS = 6, 3, 50
	o.ThroughputN, o.ThroughputTriggers, o.ThroughputRegions = 20, 2, 2
	o.EmptyN, o.MemoryN, o.MemorySettle, o.EvalN, o.EvalRuns = 50, 300, 10*time.Millisecond, 300, 2
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := Run(ctx, o, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	if len(rep.Errors) > 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
	seen := map[string]int{}
	for _, r := range rep.Rows {
		seen[r.Scenario]++
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Value < 0 {
			t.Errorf("%s / %s: value %v", r.Scenario, r.Figure, r.Value)
		}
		if r.Target != "" && r.Pass == nil {
			t.Errorf("%s / %s: target %q without a verdict", r.Scenario, r.Figure, r.Target)
		}
	}
	for _, s := range o.Scenarios {
		if seen[s] == 0 {
			t.Errorf("no figures for scenario %s", s)
		}
	}
	if len(rep.Runs) != len(o.Scenarios) {
		t.Errorf("%d scenario runs reported, want %d", len(rep.Runs), len(o.Scenarios))
	}
	// Figures that must be measured, not left at zero.
	for _, r := range rep.Rows {
		positive := strings.Contains(r.Figure, "p99") || strings.Contains(r.Figure, "per second") ||
			strings.Contains(r.Figure, "trigger → last result") || strings.HasPrefix(r.Figure, "process RSS")
		if positive && r.Value <= 0 {
			t.Errorf("%s / %s: %v, want > 0", r.Scenario, r.Figure, r.Value)
		}
	}
}

func TestBenchTable(t *testing.T) {
	pass, fail := true, false
	rep := &report{Rows: []row{
		{Scenario: "latency", Figure: "p99", Target: "< 5 ms", Value: 1.234, Unit: "ms", Pass: &pass, Detail: "why"},
		{Scenario: "empty", Figure: "rate", Target: "≥ 20000/s", Value: 1234.4, Unit: "/s", Pass: &fail},
		{Scenario: "fanout", Figure: "twice", Value: 3},
	}, Errors: []string{"memory: boom"}}
	var b bytes.Buffer
	rep.print(&b)
	out := b.String()
	for _, want := range []string{"1.23 ms", "PASS [1]", "1234 /s", "FAIL", "[1] why", "ERROR memory: boom", "1 figures with a target missed, 1 scenarios failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 500; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 250 * time.Millisecond}, {0.99, 495 * time.Millisecond}, {1, 500 * time.Millisecond}, {0.0001, time.Millisecond}} {
		if got := percentile(d, tt.q); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}
