package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes to the loader. It must never panic;
// failures must be well-formed problems; what loads must evaluate.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/errors/*.yaml")
	examples, _ := filepath.Glob("../examples/policies/*.yaml")
	for _, p := range append(seeds, examples...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(benchPolicies))
	f.Add([]byte("policies:\n  - name: a\n    on: ['*']\n    match: |\n      copy.name == \"\\u00e9\" &&\n        copy.x\n    action: cancel\n"))
	copies := inventory(50, 1)
	f.Fuzz(func(t *testing.T, src []byte) {
		start := time.Now()
		defer func() {
			// Loading is on the worker's start path and in the CI check:
			// an input that takes seconds is a bug too.
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %v", d)
			}
		}()
		set, err := Parse("fuzz.yaml", src)
		lines := newText(src).lines()
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error is not a *LoadError with problems: %v", err)
			}
			for _, p := range le.Problems {
				if p.File != "fuzz.yaml" || p.Message == "" || strings.ContainsAny(p.Message, "\n\r") {
					t.Fatalf("malformed problem %#v", p)
				}
				if p.Line < 0 || p.Line > lines || p.Col < 0 || (p.Line == 0 && p.Col > 0) {
					t.Fatalf("bad position in %#v (%d lines)", p, lines)
				}
			}
			return
		}
		if set.Version() == "" {
			t.Fatal("no version")
		}
		for _, p := range set.Policies() {
			// What loads must be what the worker can act on: a
			// released_by without a condition to release, or a protect
			// policy with cancel-only settings, was accepted once.
			if p.ReleasedBy != "" && p.ActiveFor <= 0 {
				t.Fatalf("policy %q: released_by %q without active_for", p.Name, p.ReleasedBy)
			}
			if p.Action == ActionProtect && (p.MaxCancels != 0 || p.DryRun || p.ActiveFor != 0) {
				t.Fatalf("policy %q: protect with cancel-only settings %+v", p.Name, p)
			}
			if p.Action != ActionCancel && p.Action != ActionProtect {
				t.Fatalf("policy %q: action %v", p.Name, p.Action)
			}
		}
		for _, typ := range []string{"budget.exceeded", "region.quarantined", "x"} {
			tr := Trigger{Type: typ, Data: map[string]any{"region": "cn-beijing", "percent": 120.0}}
			set.EvaluateCopies(tr, copies, benchNow)
		}
	})
}
