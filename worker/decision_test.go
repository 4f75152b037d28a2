package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// TestDecisionList fixes each list's metric label, the result the decider
// publishes for it, and the field of the decision it fills.
func TestDecisionList(t *testing.T) {
	var dec event.Decision
	tests := []struct {
		list    decisionList
		label   string
		outcome cloud.Outcome
		field   *[]event.DecidedCopy
	}{
		{listCancel, "cancel", "", &dec.Cancel},
		{listAlreadyDecided, "already_decided", "", &dec.AlreadyDecided},
		{listProtected, "protected", cloud.OutcomeProtected, &dec.Protected},
		{listHeld, "held", cloud.OutcomeHeld, &dec.Held},
		{listPlanned, "planned", cloud.OutcomePlanned, &dec.Planned},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			if got := tt.list.String(); got != tt.label {
				t.Errorf("String = %q, want %q", got, tt.label)
			}
			if got := tt.list.outcome(); got != tt.outcome {
				t.Errorf("outcome = %q, want %q", got, tt.outcome)
			}
			if got := tt.list.of(&dec); got != tt.field {
				t.Errorf("of names the wrong field of the decision")
			}
		})
	}
	if got := decisionList(99).String(); got != "decisionList(99)" {
		t.Errorf("String of an unknown list = %q", got)
	}
}

func TestInterleaveRegions(t *testing.T) {
	dec := func(regions ...string) []policy.Decision {
		var ds []policy.Decision
		for i, r := range regions {
			ds = append(ds, policy.Decision{Copy: cloud.Copy{Region: r, ImageID: fmt.Sprintf("m-%04d", i)}})
		}
		return ds
	}
	tests := []struct {
		name    string
		regions []string
		want    []int
	}{
		{"empty", nil, []int{}},
		{"one region keeps its order", []string{"a", "a", "a"}, []int{0, 1, 2}},
		{"round robin", []string{"a", "a", "a", "b", "b", "c"}, []int{0, 3, 5, 1, 4, 2}},
		{"regions in order of first appearance", []string{"b", "a", "b", "a"}, []int{0, 1, 2, 3}},
		{"uneven", []string{"a", "b", "b", "b"}, []int{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := interleaveRegions(dec(tt.regions...)); !slices.Equal(got, tt.want) {
				t.Errorf("interleaveRegions(%v) = %v, want %v", tt.regions, got, tt.want)
			}
		})
	}
}

type ctxKey struct{}

func TestParallel(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "parent")

	t.Run("small n runs inline, in order, and stops at the first error", func(t *testing.T) {
		for _, n := range []int{0, 1, 2} {
			var order []int // no lock: inline calls share the caller's goroutine
			err := parallel(parent, n, 32, func(ctx context.Context, i int) error {
				if ctx != parent {
					t.Errorf("n=%d: f got a derived context, so it did not run inline", n)
				}
				order = append(order, i)
				if i == 0 && n == 2 {
					return errBoom
				}
				return nil
			})
			want := []int{0, 1}[:n]
			if n == 2 {
				want = []int{0}
			}
			if !slices.Equal(order, want) || (n == 2) != errors.Is(err, errBoom) {
				t.Errorf("n=%d: calls %v err %v, want %v", n, order, err, want)
			}
		}
	})

	t.Run("large n runs every index within the width", func(t *testing.T) {
		var (
			mu          sync.Mutex
			seen        = map[int]int{}
			running, hi atomic.Int32
		)
		err := parallel(parent, 200, 4, func(ctx context.Context, i int) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				h := hi.Load()
				if n <= h || hi.CompareAndSwap(h, n) {
					break
				}
			}
			if ctx.Value(ctxKey{}) != "parent" {
				t.Error("f's context does not derive from the caller's")
			}
			mu.Lock()
			seen[i]++
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			if seen[i] != 1 {
				t.Fatalf("index %d ran %d times", i, seen[i])
			}
		}
		if h := hi.Load(); h > 4 {
			t.Errorf("%d ran at once, width is 4", h)
		}
	})

	t.Run("large n returns the first error and stops handing out work", func(t *testing.T) {
		var calls atomic.Int32
		errFirst := errors.New("first")
		err := parallel(parent, 1000, 2, func(ctx context.Context, i int) error {
			calls.Add(1)
			if i == 5 {
				return errFirst
			}
			if i > 5 {
				<-ctx.Done() // later errors come after the first, never before
				return fmt.Errorf("later %d", i)
			}
			return nil
		})
		if !errors.Is(err, errFirst) {
			t.Errorf("err = %v, want the first error", err)
		}
		if n := calls.Load(); n >= 1000 {
			t.Errorf("all %d indexes ran after an error", n)
		}
	})

	t.Run("a panic in a goroutine is raised in the caller", func(t *testing.T) {
		defer func() {
			if r := recover(); r != "poison" {
				t.Errorf("recovered %v, want the panic of f", r)
			}
		}()
		_ = parallel(parent, 50, 4, func(_ context.Context, i int) error {
			if i%7 == 3 {
				panic("poison")
			}
			return nil
		})
		t.Error("parallel returned after f panicked")
	})

	t.Run("a cancelled context stops it", func(t *testing.T) {
		ctx, cancel := context.WithCancel(parent)
		cancel()
		err := parallel(ctx, 10, 2, func(context.Context, int) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}
