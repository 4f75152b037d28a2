package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
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
	var stdout, stderr bytes.Buffer
	err := runBench(ctx, []string{"--json",
		"--latency-n", "5", "--latency-warmup", "1",
		"--fanout-n", "6", "--fanout-regions", "3", "--fanout-qps", "50",
		"--throughput-n", "20", "--throughput-triggers", "2", "--throughput-regions", "2",
		"--empty-n", "50", "--memory-n", "300", "--memory-settle", "10ms", "--eval-n", "300", "--eval-runs", "2",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var rep benchReport
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
	for _, s := range benchScenarios {
		if seen[s] == 0 {
			t.Errorf("no figures for scenario %s", s)
		}
	}
	if len(rep.Runs) != len(benchScenarios) {
		t.Errorf("%d scenario runs reported, want %d", len(rep.Runs), len(benchScenarios))
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
	rep := &benchReport{Rows: []benchRow{
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

func TestBenchFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{name: "all by default", want: benchScenarios},
		{name: "some, deduplicated, in run order", args: []string{"--scenarios", "eval, latency,eval,memory"}, want: []string{"memory", "latency", "eval"}},
		{name: "unknown", args: []string{"--scenarios", "latency,speed"}, wantErr: `unknown scenario "speed"`},
		{name: "bad sizes, all reported", args: []string{"--latency-n", "0", "--fanout-qps", "0"}, wantErr: "--latency-n: 0: must be >= 1\n--fanout-qps"},
		{name: "too many regions", args: []string{"--fanout-regions", "99"}, wantErr: "at most 14"},
		{name: "arguments", args: []string{"extra"}, wantErr: "no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseBenchFlags(tt.args, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(o.scenarios, ",") != strings.Join(tt.want, ",") {
				t.Errorf("scenarios %v, want %v", o.scenarios, tt.want)
			}
		})
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
