package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/copyguard/copyguard/cloud"
)

func evalErr(i int) EvalError {
	return EvalError{Policy: fmt.Sprintf("p%02d", i%7), Field: "match", Region: "r", ImageID: fmt.Sprintf("m-%05d", i), Message: "no such key: team"}
}

// TestErrorLogKeepsSmallest: whatever order errors arrive in and however
// they are split between logs that are merged, the log keeps the
// MaxErrors smallest and counts every one.
func TestErrorLogAnyOrderAnySplit(t *testing.T) {
	for _, n := range []int{0, 1, MaxErrors - 1, MaxErrors, MaxErrors + 1, 1000} {
		var all []EvalError
		for i := range n {
			all = append(all, evalErr(i))
		}
		want := slices.SortedFunc(slices.Values(all), compareErr)
		if len(want) > MaxErrors {
			want = want[:MaxErrors]
		}
		for seed := range uint64(5) {
			rng := rand.New(rand.NewPCG(seed, uint64(n)))
			shuffled := slices.Clone(all)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			parts := make([]errorLog, 1+rng.IntN(4))
			for _, e := range shuffled {
				parts[rng.IntN(len(parts))].add(e)
			}
			var l errorLog
			for i := range parts {
				l.merge(&parts[i])
			}
			got, dropped := l.result()
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("n=%d seed %d: kept %d errors, not the %d smallest", n, seed, len(got), len(want))
			}
			if dropped != n-len(want) {
				t.Fatalf("n=%d seed %d: dropped %d, want %d", n, seed, dropped, n-len(want))
			}
		}
	}
}

func TestErrorLogEmpty(t *testing.T) {
	var l errorLog
	if got, dropped := l.result(); got != nil || dropped != 0 {
		t.Errorf("got %v %d", got, dropped)
	}
	var other errorLog
	l.merge(&other)
	if got, dropped := l.result(); got != nil || dropped != 0 {
		t.Errorf("after merging an empty log: %v %d", got, dropped)
	}
}

// TestErrorLogMergeCountsDropped: a log that already dropped errors
// passes its count on.
func TestErrorLogMergeCountsDropped(t *testing.T) {
	var a, b errorLog
	for i := range MaxErrors + 30 {
		a.add(evalErr(i))
	}
	for i := range 10 {
		b.add(evalErr(10_000 + i))
	}
	b.merge(&a)
	got, dropped := b.result()
	if len(got) != MaxErrors || dropped != 40 {
		t.Errorf("kept %d dropped %d, want %d and 40", len(got), dropped, MaxErrors)
	}
}

func TestCompareErrOrder(t *testing.T) {
	base := EvalError{Policy: "b", Field: "match", Region: "r2", ImageID: "m-2", Message: "y"}
	if compareErr(EvalError{Policy: "a", Field: "when", Region: "r9", ImageID: "m-9", Message: "z"}, base) >= 0 {
		t.Error("policy is compared first")
	}
	if compareErr(EvalError{Policy: "b", Field: "match", Region: "r9", ImageID: "m-1", Message: "a"}, base) <= 0 {
		t.Error("region is compared before image id")
	}
	for _, tt := range []struct {
		a, b EvalError
		want int
	}{
		{EvalError{Policy: "p", Field: "match"}, EvalError{Policy: "p", Field: "when"}, -1},
		{EvalError{Policy: "p", Region: "a", ImageID: "z"}, EvalError{Policy: "p", Region: "b", ImageID: "a"}, -1},
		{EvalError{Policy: "p", ImageID: "a", Message: "z"}, EvalError{Policy: "p", ImageID: "b", Message: "a"}, -1},
		{EvalError{Policy: "p", Message: "a"}, EvalError{Policy: "p", Message: "b"}, -1},
		{base, base, 0},
	} {
		if got := compareErr(tt.a, tt.b); got != tt.want {
			t.Errorf("compareErr(%+v, %+v) = %d", tt.a, tt.b, got)
		}
		if got := compareErr(tt.b, tt.a); got != -tt.want {
			t.Errorf("compareErr(%+v, %+v) = %d (not antisymmetric)", tt.b, tt.a, got)
		}
	}
}

// TestEvaluateErrorCapInParallel: the cap and the dropped count hold when
// the scan runs on several goroutines, each with its own log.
func TestEvaluateErrorCapInParallel(t *testing.T) {
	set := mustParse(t, `policies:
  - {name: team, on: ["*"], match: 'copy.tags["team"].startsWith("x")', action: cancel}`)
	n := parallelMin + 500
	copies := make([]cloud.Copy, 0, n)
	for i := range n {
		copies = append(copies, cp("r1", fmt.Sprintf("m-%05d", i), 0))
	}
	plan := set.EvaluateCopies(trig("x", nil), copies, benchNow)
	if len(plan.Errors) != MaxErrors || plan.ErrorsDropped != n-MaxErrors {
		t.Fatalf("%d errors, %d dropped; want %d and %d", len(plan.Errors), plan.ErrorsDropped, MaxErrors, n-MaxErrors)
	}
	for i, e := range plan.Errors {
		if want := fmt.Sprintf("m-%05d", i); e.ImageID != want {
			t.Fatalf("error %d is for %s, want %s: the smallest are kept", i, e.ImageID, want)
		}
	}
}
