package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// TestPatternLiteralTooLong: a literal pattern over MaxPatternSize is a
// load error at the literal, in both call forms; one at the limit loads.
func TestPatternLiteralTooLong(t *testing.T) {
	long := strings.Repeat("a", MaxPatternSize+1)
	for _, expr := range []string{`copy.name.matches("` + long + `")`, `matches(copy.name, "` + long + `")`} {
		src := "policies:\n  - name: p\n    on: [x]\n    action: cancel\n    match: '" + expr + "'\n"
		_, err := Parse("p.yaml", []byte(src))
		var le *LoadError
		if !errors.As(err, &le) || len(le.Problems) != 1 {
			t.Fatalf("%.40s...: got %v, want one problem", expr, err)
		}
		p := le.Problems[0]
		want := fmt.Sprintf("regex pattern of %d bytes is over the limit of %d", MaxPatternSize+1, MaxPatternSize)
		col := 13 + strings.Index(expr, `"`) // the literal's opening quote; the expression starts at column 13
		if p.Field != "match" || p.Line != 5 || p.Col != col || p.Message != want {
			t.Errorf("%.40s...: got %s:%d:%d %s: %s, want line 5 col %d: %s", expr, p.File, p.Line, p.Col, p.Field, p.Message, col, want)
		}
	}
	ok := strings.Repeat("a", MaxPatternSize)
	mustParse(t, "policies:\n  - name: p\n    on: [x]\n    action: cancel\n    match: 'copy.name.matches(\""+ok+"\")'\n")
}

func namedCopies(n int) []cloud.Copy {
	out := make([]cloud.Copy, n)
	for i := range out {
		out[i] = cloud.Copy{Region: "r", ImageID: fmt.Sprintf("m-%04d", i), Name: fmt.Sprintf("app-%d", i), Status: cloud.StatusCreating}
	}
	return out
}

// TestPatternFromTriggerTooLong: a pattern from trigger data over the
// limit fails that policy's match for each copy, quickly (no compilation
// is attempted), and cancels nothing; one built by concatenating short
// literals is caught the same way.
func TestPatternFromTriggerTooLong(t *testing.T) {
	set := mustParse(t, `policies:
  - name: by-pattern
    on: [x]
    match: copy.name.matches(trigger.data.pattern)
    action: cancel
  - name: when-pattern
    on: [x]
    when: '"app".matches(trigger.data.pattern)'
    match: "true"
    action: cancel
`)
	// A 1 MB pattern that Go's compiler would take minutes over.
	huge := strings.Repeat("(a|b)*c{1,100}", (1<<20)/14)
	start := time.Now()
	plan := set.EvaluateCopies(trig("x", map[string]any{"pattern": huge}), namedCopies(200), benchNow)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("evaluation took %v", d)
	}
	if len(plan.Decisions) != 0 {
		t.Errorf("%d decisions, want none", len(plan.Decisions))
	}
	// The cost tracker charges a call after it returns: the pattern is
	// refused by its size first, then the charge for a 1 MB argument
	// exceeds the cost limit, and that is the error reported.
	tooLong := fmt.Sprintf("regex pattern of %d bytes is over the limit of %d", len(huge), MaxPatternSize)
	if len(plan.Errors) == 0 || len(plan.Errors)+plan.ErrorsDropped != 201 {
		t.Fatalf("got %d errors (+%d dropped), want 201 (one when, 200 matches)", len(plan.Errors), plan.ErrorsDropped)
	}
	for _, e := range plan.Errors {
		if e.Message != tooLong && e.Message != "operation cancelled: actual cost limit exceeded" {
			t.Fatalf("error %+v, want %q or the cost limit", e, tooLong)
		}
	}
	if n := set.regex.compiles; n != 0 {
		t.Errorf("%d compilations of a pattern over the limit", n)
	}

	// Just over the limit, the cost is small and the size check speaks.
	over := strings.Repeat("a", MaxPatternSize+1)
	plan = set.EvaluateCopies(trig("x", map[string]any{"pattern": over}), namedCopies(3), benchNow)
	tooLong = fmt.Sprintf("regex pattern of %d bytes is over the limit of %d", len(over), MaxPatternSize)
	if len(plan.Decisions) != 0 || len(plan.Errors) != 4 {
		t.Fatalf("%d decisions, errors %+v; want none and 4", len(plan.Decisions), plan.Errors)
	}
	for _, e := range plan.Errors {
		if e.Message != tooLong {
			t.Errorf("error %+v, want %q", e, tooLong)
		}
	}
	if n := set.regex.compiles; n != 0 {
		t.Errorf("%d compilations of a pattern over the limit", n)
	}

	set = mustParse(t, "policies:\n  - name: p\n    on: [x]\n    action: cancel\n    match: copy.name.matches(trigger.data.p + trigger.data.p)\n")
	half := strings.Repeat("a", MaxPatternSize/2+1)
	plan = set.EvaluateCopies(trig("x", map[string]any{"p": half}), namedCopies(1), benchNow)
	if len(plan.Errors) != 1 || !strings.Contains(plan.Errors[0].Message, "over the limit") {
		t.Errorf("concatenated pattern: errors %+v", plan.Errors)
	}
}

// TestPatternCompiledOnce: a pattern from trigger data is compiled once,
// not once per copy, and a bad pattern's error is not recomputed either.
func TestPatternCompiledOnce(t *testing.T) {
	set := mustParse(t, `policies:
  - name: by-pattern
    on: [x]
    match: copy.name.matches(trigger.data.pattern)
    action: cancel
`)
	copies := namedCopies(1000)
	plan := set.EvaluateCopies(trig("x", map[string]any{"pattern": "^app-1[0-9]$"}), copies, benchNow)
	if len(plan.Decisions) != 10 || len(plan.Errors) != 0 {
		t.Fatalf("%d decisions, errors %v; want 10, none", len(plan.Decisions), plan.Errors)
	}
	if n := set.regex.compiles; n != 1 {
		t.Errorf("%d compilations for 1000 copies, want 1", n)
	}
	set.EvaluateCopies(trig("x", map[string]any{"pattern": "^app-1[0-9]$"}), copies, benchNow)
	if n := set.regex.compiles; n != 1 {
		t.Errorf("%d compilations after a second trigger with the same pattern, want 1", n)
	}
	plan = set.EvaluateCopies(trig("x", map[string]any{"pattern": "(unclosed"}), copies, benchNow)
	if len(plan.Decisions) != 0 || len(plan.Errors)+plan.ErrorsDropped != 1000 || !strings.Contains(plan.Errors[0].Message, "missing closing )") {
		t.Errorf("bad pattern: %d decisions, %d errors (%v)", len(plan.Decisions), len(plan.Errors)+plan.ErrorsDropped, plan.Errors[:1])
	}
	if n := set.regex.compiles; n != 2 {
		t.Errorf("%d compilations after a bad pattern, want 2", n)
	}
	// The cache stays bounded whatever the patterns.
	for i := range 3 * maxCachedPatterns {
		set.EvaluateCopies(trig("x", map[string]any{"pattern": fmt.Sprintf("^app-%d$", i)}), copies[:1], benchNow)
	}
	if n := len(set.regex.m); n > maxCachedPatterns {
		t.Errorf("%d cached patterns, limit %d", n, maxCachedPatterns)
	}
}
