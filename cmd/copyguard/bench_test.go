package main

import (
	"bytes"
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
