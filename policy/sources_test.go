package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"budget-bridge", "budget-bridge", true},
		{"budget-bridge", "budget-bridge2", false},
		{"budget-bridge", "Budget-bridge", false},
		{"budget-bridge", "", false},
		{"urn:budget:*", "urn:budget:", true},
		{"urn:budget:*", "urn:budget:cc-1", true},
		{"urn:budget:*", "urn:budgets:cc-1", false},
		{"https://ops.example.com/*", "https://ops.example.com/a/b", true},
		{"https://ops.example.com/*", "https://ops.example.com.evil/a", false},
		{"*/bridge", "//budget/bridge", true},
		{"*/bridge", "//budget/bridge/x", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYc-", false},
		{"a**", "a", true},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
	// No backtracking blow-up: a hostile source against a many-star
	// pattern answers at once.
	start := time.Now()
	globMatch(strings.Repeat("a*", 100)+"b", strings.Repeat("a", 64<<10))
	if d := time.Since(start); d > time.Second {
		t.Errorf("globMatch took %v", d)
	}
}

func TestSourcesGateFiring(t *testing.T) {
	set := mustParse(t, `policies:
  - name: bridge-only
    on: [budget.exceeded]
    sources: [budget-bridge, "urn:ops:*"]
    match: copy.progress < 50
    action: cancel
  - name: anyone
    on: [budget.exceeded]
    match: copy.region == "r2"
    action: cancel
  - name: keep
    on: ["*"]
    match: copy.tags.?protect.orValue("") == "true"
    action: protect
`)
	if got := set.Policy("bridge-only").Sources; !slices.Equal(got, []string{"budget-bridge", "urn:ops:*"}) {
		t.Fatalf("Sources = %q", got)
	}
	copies := []cloud.Copy{cp("r1", "m-1", 10), cp("r2", "m-2", 90), cp("r1", "m-3", 10, "protect=true")}
	tests := []struct {
		source      string
		fired       []string
		refused     []string
		summaryWant string
	}{
		{"budget-bridge", []string{"bridge-only", "anyone", "keep"}, nil,
			"r1/m-1:cancel[bridge-only] r1/m-3:protect[bridge-only](keep) r2/m-2:cancel[anyone]"},
		{"urn:ops:console", []string{"bridge-only", "anyone", "keep"}, nil,
			"r1/m-1:cancel[bridge-only] r1/m-3:protect[bridge-only](keep) r2/m-2:cancel[anyone]"},
		// An unlisted source fires only the policy without sources; the
		// protect policy, which cannot have sources, still vetoes.
		{"laptop", []string{"anyone", "keep"}, []string{"bridge-only"}, "r2/m-2:cancel[anyone]"},
		{"", []string{"anyone", "keep"}, []string{"bridge-only"}, "r2/m-2:cancel[anyone]"},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			tr := trig("budget.exceeded", nil)
			tr.Source = tt.source
			plan := set.EvaluateCopies(tr, copies, benchNow)
			if !slices.Equal(plan.Fired, tt.fired) || !slices.Equal(plan.Refused, tt.refused) {
				t.Errorf("fired %q refused %q, want %q and %q", plan.Fired, plan.Refused, tt.fired, tt.refused)
			}
			if got := strings.Join(summary(plan), " "); got != tt.summaryWant {
				t.Errorf("decisions %s, want %s", got, tt.summaryWant)
			}
		})
	}
	// A trigger type the policy does not listen to is not "refused".
	tr := trig("region.quarantined", nil)
	tr.Source = "laptop"
	if plan := set.EvaluateCopies(tr, copies, benchNow); len(plan.Refused) != 0 {
		t.Errorf("refused %q for a type the policy ignores", plan.Refused)
	}
}
