package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/copyguard/copyguard/cloud"
)

// TestReadmeExample keeps the first policy example in the README valid,
// and checks the claims it makes about numbers and indexing.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, policies, _ := strings.Cut(string(b), "\n## Policies\n")
	_, rest, _ := strings.Cut(policies, "```yaml\n")
	example, _, _ := strings.Cut(rest, "```")
	set := mustParse(t, example)
	for _, name := range []string{"stop-copies-over-budget", "quarantine-region", "never-touch-golden-images"} {
		if p := set.Policy(name); p == nil || !p.Indexed() {
			t.Errorf("%s: missing or not indexed", name)
		}
	}
	plan := set.EvaluateCopies(budgetTrigger("cc-1", 100), []cloud.Copy{
		cp("r", "m-1", 10, "cost-center=cc-1"), cp("r", "m-2", 10), cp("r", "m-3", 10, "cost-center=cc-1", "protect=true"),
	}, benchNow)
	if got := strings.Join(summary(plan), " "); got != "r/m-1:cancel[stop-copies-over-budget] r/m-3:protect[stop-copies-over-budget](never-touch-golden-images)" || len(plan.Errors) != 0 {
		t.Errorf("got %s, errors %v", got, plan.Errors)
	}
	// "trigger.data.percent + 1 fails at run time (double + int)".
	set = mustParse(t, "policies:\n  - {name: a, on: [x], when: trigger.data.percent + 1 > 2.0, match: 'true', action: cancel}\n")
	plan = set.EvaluateCopies(trig("x", map[string]any{"percent": 5.0}), []cloud.Copy{cp("r", "m", 0)}, benchNow)
	if len(plan.Errors) != 1 || len(plan.Decisions) != 0 {
		t.Errorf("mixed arithmetic: %+v", plan)
	}
}
