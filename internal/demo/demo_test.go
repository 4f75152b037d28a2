package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the demo and checks its report: every copy accounted for,
// the same outcomes each time, and at most one CancelCopyImage per copy.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, Options{}, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"==> Report",
		"29 copies: 14 cancelled, 1 completed, 2 protected, 5 planned, 7 untouched.",
		"CancelCopyImage calls: 15, one per decided copy at most; rejected inputs: 1 (data.percent: must be a number, got string).",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
