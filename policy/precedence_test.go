package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// TestDecidePrecedence drives decide directly: protect > cancel > planned >
// held, with max_cancels counted after protection and per policy.
func TestDecidePrecedence(t *testing.T) {
	cancel := &Policy{Name: "cancel", Action: ActionCancel}
	dry := &Policy{Name: "dry", Action: ActionCancel, DryRun: true}
	capped := &Policy{Name: "capped", Action: ActionCancel, MaxCancels: 1}
	dryCapped := &Policy{Name: "dry-capped", Action: ActionCancel, DryRun: true, MaxCancels: 1}
	gold := &Policy{Name: "gold", Action: ActionProtect}
	c := func(id string) *cloud.Copy { return &cloud.Copy{Region: "r", ImageID: id} }
	type sel struct {
		id       string
		policies []*Policy
		vetoed   []*Policy
	}
	tests := []struct {
		name string
		sel  []sel
		want []string // id:action:reason
	}{
		{
			name: "protect beats every cancel",
			sel:  []sel{{"m-1", []*Policy{cancel, dry}, []*Policy{gold}}},
			want: []string{`m-1:protect:protected by policy "gold" against policies "cancel", "dry"`},
		},
		{
			name: "live cancel beats dry run",
			sel:  []sel{{"m-1", []*Policy{dry, cancel}, nil}},
			want: []string{`m-1:cancel:selected by policy "cancel"`},
		},
		{
			name: "dry run alone is planned",
			sel:  []sel{{"m-1", []*Policy{dry}, nil}},
			want: []string{`m-1:planned:dry run: policy "dry" would cancel it`},
		},
		{
			name: "over the limit is held as a whole",
			sel:  []sel{{"m-1", []*Policy{capped}, nil}, {"m-2", []*Policy{capped}, nil}},
			want: []string{
				`m-1:held:held: policy "capped" selected 2 copies, max_cancels is 1`,
				`m-2:held:held: policy "capped" selected 2 copies, max_cancels is 1`,
			},
		},
		{
			name: "at the limit is not held",
			sel:  []sel{{"m-1", []*Policy{capped}, nil}},
			want: []string{`m-1:cancel:selected by policy "capped"`},
		},
		{
			name: "protected copies do not count toward the limit",
			sel:  []sel{{"m-1", []*Policy{capped}, []*Policy{gold}}, {"m-2", []*Policy{capped}, nil}},
			want: []string{
				`m-1:protect:protected by policy "gold" against policy "capped"`,
				`m-2:cancel:selected by policy "capped"`,
			},
		},
		{
			name: "a held policy does not stop another's cancel",
			sel:  []sel{{"m-1", []*Policy{capped, cancel}, nil}, {"m-2", []*Policy{capped}, nil}},
			want: []string{
				`m-1:cancel:selected by policy "cancel"`,
				`m-2:held:held: policy "capped" selected 2 copies, max_cancels is 1`,
			},
		},
		{
			name: "a held policy and a planned one: planned",
			sel:  []sel{{"m-1", []*Policy{capped, dry}, nil}, {"m-2", []*Policy{capped}, nil}},
			want: []string{
				`m-1:planned:dry run: policy "dry" would cancel it`,
				`m-2:held:held: policy "capped" selected 2 copies, max_cancels is 1`,
			},
		},
		{
			name: "a dry run over its limit is held too",
			sel:  []sel{{"m-1", []*Policy{dryCapped}, nil}, {"m-2", []*Policy{dryCapped}, nil}},
			want: []string{
				`m-1:held:held: policy "dry-capped" (dry run) selected 2 copies, max_cancels is 1`,
				`m-2:held:held: policy "dry-capped" (dry run) selected 2 copies, max_cancels is 1`,
			},
		},
		{
			name: "several held policies are all named",
			sel: []sel{
				{"m-1", []*Policy{capped, dryCapped}, nil},
				{"m-2", []*Policy{capped, dryCapped}, nil},
			},
			want: []string{
				`m-1:held:held: policy "capped" selected 2 copies, max_cancels is 1; policy "dry-capped" (dry run) selected 2 copies, max_cancels is 1`,
				`m-2:held:held: policy "capped" selected 2 copies, max_cancels is 1; policy "dry-capped" (dry run) selected 2 copies, max_cancels is 1`,
			},
		},
		{
			name: "output sorted by image id whatever the selection order",
			sel:  []sel{{"m-3", []*Policy{cancel}, nil}, {"m-1", []*Policy{cancel}, nil}, {"m-2", []*Policy{dry}, nil}},
			want: []string{
				`m-1:cancel:selected by policy "cancel"`,
				`m-2:planned:dry run: policy "dry" would cancel it`,
				`m-3:cancel:selected by policy "cancel"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s []selection
			for _, x := range tt.sel {
				s = append(s, selection{copy: c(x.id), policies: x.policies, vetoed: x.vetoed})
			}
			var got []string
			for _, d := range decide(s, []*Policy{cancel, dry, capped, dryCapped}) {
				got = append(got, fmt.Sprintf("%s:%s:%s", d.Copy.ImageID, d.Action, d.Reason))
				if !slices.IsSorted(d.Policies) || !slices.IsSorted(d.Vetoed) {
					t.Errorf("unsorted names in %+v", d)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestDecideSharedSlicesAreSafe: decisions with the same policies share
// their name slices; an append to one must not show in another.
func TestDecideSharedSlicesAreSafe(t *testing.T) {
	a := &Policy{Name: "a", Action: ActionCancel}
	sel := []selection{
		{copy: &cloud.Copy{Region: "r", ImageID: "m-1"}, policies: []*Policy{a}},
		{copy: &cloud.Copy{Region: "r", ImageID: "m-2"}, policies: []*Policy{a}},
	}
	ds := decide(sel, []*Policy{a})
	ds[0].Policies = append(ds[0].Policies, "x")
	if !slices.Equal(ds[1].Policies, []string{"a"}) {
		t.Errorf("an append to one decision changed another: %v", ds[1].Policies)
	}
}

// TestDecideAgreesWithRules checks decide on random selections against the
// precedence rules written out one copy at a time.
func TestDecideAgreesWithRules(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 5))
		var cancels, protects []*Policy
		for i := range 1 + rng.IntN(4) {
			cancels = append(cancels, &Policy{Name: fmt.Sprintf("c%d", i), Action: ActionCancel,
				DryRun: rng.IntN(3) == 0, MaxCancels: []int{0, 0, 1, 3}[rng.IntN(4)]})
		}
		for i := range rng.IntN(3) {
			protects = append(protects, &Policy{Name: fmt.Sprintf("p%d", i), Action: ActionProtect})
		}
		var sel []selection
		for i := range rng.IntN(12) {
			s := selection{copy: &cloud.Copy{Region: fmt.Sprint("r", rng.IntN(2)), ImageID: fmt.Sprintf("m-%02d", i)}}
			for _, p := range cancels {
				if rng.IntN(2) == 0 {
					s.policies = append(s.policies, p)
				}
			}
			if len(s.policies) == 0 {
				s.policies = []*Policy{cancels[0]}
			}
			for _, p := range protects {
				if rng.IntN(4) == 0 {
					s.vetoed = append(s.vetoed, p)
				}
			}
			sel = append(sel, s)
		}
		count := map[*Policy]int{}
		for _, s := range sel {
			if len(s.vetoed) == 0 {
				for _, p := range s.policies {
					count[p]++
				}
			}
		}
		want := map[string]Action{}
		for _, s := range sel {
			act := ActionHold
			switch {
			case len(s.vetoed) > 0:
				act = ActionProtect
			default:
				for _, p := range s.policies {
					over := p.MaxCancels > 0 && count[p] > p.MaxCancels
					if !over && !p.DryRun {
						act = ActionCancel
					} else if !over && act == ActionHold {
						act = ActionPlan
					}
				}
			}
			want[s.copy.Key()] = act
		}
		ds := decide(sel, cancels)
		if len(ds) != len(sel) {
			t.Fatalf("seed %d: %d decisions for %d selections", seed, len(ds), len(sel))
		}
		for _, d := range ds {
			if w := want[d.Copy.Key()]; d.Action != w {
				t.Fatalf("seed %d: %s is %s, want %s (%s)", seed, d.Copy.Key(), d.Action, w, d.Reason)
			}
		}
		if !slices.IsSortedFunc(ds, func(a, b Decision) int {
			return strings.Compare(a.Copy.Region+"\x00"+a.Copy.ImageID, b.Copy.Region+"\x00"+b.Copy.ImageID)
		}) {
			t.Fatalf("seed %d: not sorted", seed)
		}
	}
}

// TestEvaluateDryRunAndLimitEndToEnd runs the same rules through YAML, so
// that the decoded fields reach decide as written.
func TestEvaluateDryRunAndLimitEndToEnd(t *testing.T) {
	set := mustParse(t, `policies:
  - {name: two, on: [x], match: copy.region == "r1", action: cancel, max_cancels: 2}
  - {name: dry, on: [x], match: copy.image_id == "m-3", action: cancel, dry_run: true}
  - {name: off, on: [x], match: "true", action: cancel, enabled: false}
  - {name: keep, on: [x], match: copy.tags.keep == "yes", action: protect}`)
	copies := []cloud.Copy{cp("r1", "m-1", 0), cp("r1", "m-2", 0), cp("r1", "m-3", 0, "keep=yes"), cp("r2", "m-3", 0)}
	plan := set.EvaluateCopies(trig("x", nil), copies, benchNow)
	want := []string{"r1/m-1:cancel[two]", "r1/m-2:cancel[two]", "r1/m-3:protect[dry two](keep)", "r2/m-3:planned[dry]"}
	if got := summary(plan); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if !slices.Equal(plan.Fired, []string{"two", "dry", "keep"}) {
		t.Errorf("fired %v: a disabled policy never fires", plan.Fired)
	}
}

func TestParseDurationMessages(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90m", 90 * time.Minute, ""},
		{"6h", 6 * time.Hour, ""},
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"0d1s", time.Second, ""},
		{"3650d", 3650 * 24 * time.Hour, ""},
		{"3651d", 0, `invalid duration "3651d": want e.g. 90m, 6h or 7d`},
		{"d", 0, `invalid duration "d": want e.g. 90m, 6h or 7d`},
		{"xd", 0, `invalid duration "xd": want e.g. 90m, 6h or 7d`},
		{"1d2", 0, `invalid duration "1d2": want e.g. 90m, 6h or 7d`},
		{"1.5d", 0, `invalid duration "1.5d": want e.g. 90m, 6h or 7d`},
		{"", 0, `must be longer than zero, got ""`},
		{"0", 0, `must be longer than zero, got "0"`},
		{"0d", 0, `must be longer than zero, got "0d"`},
		{"-5m", 0, `must be longer than zero, got "-5m"`},
		{"10", 0, `invalid duration "10": want e.g. 90m, 6h or 7d`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if got != tt.want || msg != tt.err {
				t.Errorf("got %v %q, want %v %q", got, msg, tt.want, tt.err)
			}
		})
	}
}

func TestActiveForAndReleasedByDecoded(t *testing.T) {
	set := mustParse(t, `policies:
  - {name: a, on: [region.quarantined], match: "true", action: cancel, active_for: 1d6h, released_by: region.released}
  - {name: b, on: [x], match: "true", action: cancel, active_for: 45m}
  - {name: c, on: [x], match: "true", action: cancel}`)
	for _, tt := range []struct {
		name     string
		active   time.Duration
		released string
	}{{"a", 30 * time.Hour, "region.released"}, {"b", 45 * time.Minute, ""}, {"c", 0, ""}} {
		p := set.Policy(tt.name)
		if p.ActiveFor != tt.active || p.ReleasedBy != tt.released {
			t.Errorf("%s: active_for %v released_by %q, want %v %q", tt.name, p.ActiveFor, p.ReleasedBy, tt.active, tt.released)
		}
	}
}
