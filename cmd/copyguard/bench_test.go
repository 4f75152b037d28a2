package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/copyguard/copyguard/internal/bench"
)

func TestBenchFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{name: "all by default", want: bench.Scenarios()},
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
			if strings.Join(o.Scenarios, ",") != strings.Join(tt.want, ",") {
				t.Errorf("scenarios %v, want %v", o.Scenarios, tt.want)
			}
		})
	}
}

// TestBenchFleet runs the fleet scenario at a small size with this test
// binary standing in for copyguard: the replicas start, the fan-out and
// the takeover are measured, and every figure is a finite number.
func TestBenchFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three worker processes")
	}
	o := bench.DefaultOptions()
	o.Scenarios, o.JSON = []string{"fleet"}, true
	o.FleetN, o.FleetRegions, o.FleetQPS = 90, 3, 10
	o.Exe, o.ExeEnv = os.Args[0], []string{"COPYGUARD_TEST_MAIN=1"}
	var stdout, stderr bytes.Buffer
	if err := bench.Run(t.Context(), o, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var rep struct {
		Rows []struct {
			Figure string  `json:"figure"`
			Value  float64 `json:"value"`
			Detail string  `json:"detail"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	// Fan-out ratio, throttled share, takeover first and last.
	if len(rep.Rows) != 4 {
		t.Fatalf("%d figures, want 4:\n%s", len(rep.Rows), stdout.String())
	}
	for _, r := range rep.Rows {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Value < 0 {
			t.Errorf("%s: %v", r.Figure, r.Value)
		}
		t.Logf("%s: %.2f (%s)", r.Figure, r.Value, r.Detail)
	}
}
