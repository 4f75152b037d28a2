package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// cp makes a copy with tags given as k=v pairs.
func cp(region, id string, progress int, tags ...string) cloud.Copy {
	c := cloud.Copy{ImageID: id, Region: region, Progress: progress, Status: cloud.StatusCreating, Tags: map[string]string{}}
	for _, kv := range tags {
		k, v, _ := strings.Cut(kv, "=")
		c.Tags[k] = v
	}
	return c
}

// summary renders a plan's decisions as "region/id:action[policies](vetoed)".
func summary(p *Plan) []string {
	var out []string
	for _, d := range p.Decisions {
		s := fmt.Sprintf("%s:%s%v", d.Copy.Key(), d.Action, d.Policies)
		if len(d.Vetoed) > 0 {
			s += fmt.Sprintf("(%s)", strings.Join(d.Vetoed, ","))
		}
		out = append(out, s)
	}
	return out
}

func trig(typ string, data map[string]any) Trigger {
	return Trigger{ID: "t", Type: typ, Source: "test", Data: data}
}

func TestEvaluateSemantics(t *testing.T) {
	region := func(r string) Trigger { return trig("region.quarantined", map[string]any{"region": r}) }
	tests := []struct {
		name     string
		policies string
		trigger  Trigger
		copies   []cloud.Copy
		opts     []EvalOption
		want     []string
		fired    []string
	}{
		{
			name: "protect after cancel vetoes",
			policies: `policies:
  - {name: q, on: [region.quarantined], match: copy.region == trigger.data.region, action: cancel}
  - {name: gold, on: ["*"], match: 'copy.tags["protect"] == "true"', action: protect}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 0, "protect=true"), cp("r1", "m-2", 0)},
			want:    []string{"r1/m-1:protect[q](gold)", "r1/m-2:cancel[q]"},
			fired:   []string{"q", "gold"},
		},
		{
			name: "protect before cancel vetoes too",
			policies: `policies:
  - {name: gold, on: ["*"], match: 'copy.tags["protect"] == "true"', action: protect}
  - {name: q, on: [region.quarantined], match: copy.region == trigger.data.region, action: cancel}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 0, "protect=true"), cp("r1", "m-2", 0)},
			want:    []string{"r1/m-1:protect[q](gold)", "r1/m-2:cancel[q]"},
			fired:   []string{"gold", "q"},
		},
		{
			name: "a copy selected by many policies appears once",
			policies: `policies:
  - {name: c, on: [region.quarantined], match: copy.region == trigger.data.region, action: cancel}
  - {name: a, on: ["*"], match: copy.progress < 50, action: cancel}
  - {name: b, on: [region.quarantined], match: "copy.region in ['r1', 'r2']", action: cancel}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 10), cp("r2", "m-2", 90)},
			want:    []string{"r1/m-1:cancel[a b c]", "r2/m-2:cancel[b]"},
		},
		{
			name: "above max_cancels the whole policy holds",
			policies: `policies:
  - {name: wide, on: [region.quarantined], match: copy.region == trigger.data.region, action: cancel, max_cancels: 2}
  - {name: narrow, on: [region.quarantined], match: copy.image_id == "m-3", action: cancel}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 0), cp("r1", "m-2", 0), cp("r1", "m-3", 0), cp("r2", "m-4", 0)},
			want:    []string{"r1/m-1:held[wide]", "r1/m-2:held[wide]", "r1/m-3:cancel[narrow wide]"},
		},
		{
			name: "max_cancels counts copies after vetoes",
			policies: `policies:
  - {name: wide, on: [region.quarantined], match: copy.region == trigger.data.region, action: cancel, max_cancels: 2}
  - {name: gold, on: ["*"], match: 'copy.tags["protect"] == "true"', action: protect}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 0), cp("r1", "m-2", 0), cp("r1", "m-3", 0, "protect=true")},
			want:    []string{"r1/m-1:cancel[wide]", "r1/m-2:cancel[wide]", "r1/m-3:protect[wide](gold)"},
		},
		{
			name: "max_cancels equal to the count does not hold",
			policies: `policies:
  - {name: wide, on: [region.quarantined], match: copy.region == trigger.data.region, action: cancel, max_cancels: 2}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 0), cp("r1", "m-2", 0)},
			want:    []string{"r1/m-1:cancel[wide]", "r1/m-2:cancel[wide]"},
		},
		{
			name: "dry run plans; a live policy on the same copy cancels",
			policies: `policies:
  - {name: dry, on: ["*"], match: copy.progress < 50, action: cancel, dry_run: true}
  - {name: live, on: ["*"], match: copy.image_id == "m-2", action: cancel}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 10), cp("r1", "m-2", 10), cp("r1", "m-3", 90)},
			want:    []string{"r1/m-1:planned[dry]", "r1/m-2:cancel[dry live]"},
		},
		{
			name: "planned beats held; a dry run over its limit holds",
			policies: `policies:
  - {name: dry, on: ["*"], match: copy.image_id == "m-1", action: cancel, dry_run: true}
  - {name: limited, on: ["*"], match: "true", action: cancel, max_cancels: 1}
  - {name: dry-wide, on: ["*"], match: copy.image_id != "m-1", action: cancel, dry_run: true, max_cancels: 1}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 0), cp("r1", "m-2", 0), cp("r1", "m-3", 0)},
			want:    []string{"r1/m-1:planned[dry limited]", "r1/m-2:held[dry-wide limited]", "r1/m-3:held[dry-wide limited]"},
		},
		{
			name: "wildcard listens to any type",
			policies: `policies:
  - {name: any, on: ["*"], match: copy.progress < 10, action: cancel}
  - {name: other, on: [budget.exceeded], match: "true", action: cancel}`,
			trigger: trig("my.custom.event", nil),
			copies:  []cloud.Copy{cp("r1", "m-1", 0), cp("r1", "m-2", 50)},
			want:    []string{"r1/m-1:cancel[any]"},
			fired:   []string{"any"},
		},
		{
			name: "when false: the policy does not fire",
			policies: `policies:
  - {name: big, on: [budget.exceeded], when: trigger.data.percent >= 100, match: "true", action: cancel}`,
			trigger: trig("budget.exceeded", map[string]any{"percent": 99.5}),
			copies:  []cloud.Copy{cp("r1", "m-1", 0)},
		},
		{
			name: "disabled policies are skipped",
			policies: `policies:
  - {name: off, on: ["*"], match: "true", action: cancel, enabled: false}
  - {name: gold-off, on: ["*"], match: "true", action: protect, enabled: false}
  - {name: on, on: ["*"], match: copy.image_id == "m-1", action: cancel}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 0), cp("r1", "m-2", 0)},
			want:    []string{"r1/m-1:cancel[on]"},
			fired:   []string{"on"},
		},
		{
			name: "OnlyPolicies restricts cancel policies, not protect ones",
			policies: `policies:
  - {name: a, on: ["*"], match: copy.image_id == "m-1", action: cancel}
  - {name: b, on: ["*"], match: "true", action: cancel}
  - {name: gold, on: ["*"], match: 'copy.tags["protect"] == "true"', action: protect}`,
			trigger: region("r1"),
			copies:  []cloud.Copy{cp("r1", "m-1", 0, "protect=true"), cp("r1", "m-2", 0)},
			opts:    []EvalOption{OnlyPolicies("a")},
			want:    []string{"r1/m-1:protect[a](gold)"},
			fired:   []string{"a", "gold"},
		},
		{
			name: "numbers from JSON compare with int and double literals",
			policies: `policies:
  - {name: n, on: ["*"], when: "trigger.data.percent >= 100 && trigger.data.count == 3", match: copy.progress < 90.5, action: cancel}`,
			trigger: trig("x", map[string]any{"percent": 100.0, "count": 3.0}),
			copies:  []cloud.Copy{cp("r1", "m-1", 90), cp("r1", "m-2", 91)},
			want:    []string{"r1/m-1:cancel[n]"},
		},
		{
			name: "every field of trigger, copy and now is reachable",
			policies: `policies:
  - name: fields
    on: ["*"]
    match: >
      trigger.id == "t" && trigger.type == "x" && trigger.source == "test" && trigger.subject == "s" &&
      trigger.time < now && copy.source_image_id == "m-src" && copy.source_region == "r0" &&
      copy.status == "Creating" && copy.name.startsWith("web-") && copy.resource_group_id == "rg" &&
      copy.size_gb > 10 && copy.started_at < now - duration("1h") && has(copy.tags.team) &&
      copy.tags.?missing.orValue("none") == "none" && size(copy.tags) == 1
    action: cancel`,
			trigger: Trigger{ID: "t", Type: "x", Source: "test", Subject: "s", Time: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
			copies: []cloud.Copy{{ImageID: "m-1", Region: "r1", SourceImageID: "m-src", SourceRegion: "r0", Status: "Creating",
				Name: "web-1", ResourceGroupID: "rg", SizeGB: 20, StartedAt: benchNow.Add(-2 * time.Hour), Tags: map[string]string{"team": "web"}}},
			want: []string{"r1/m-1:cancel[fields]"},
		},
		{
			name: "comprehensions that rebind names keep their meaning",
			policies: `policies:
  - {name: c, on: ["*"], match: "trigger.data.regions.exists(copy, copy == 'r1') && copy.region == 'r1'", action: cancel}`,
			trigger: trig("x", map[string]any{"regions": []any{"r0", "r1"}}),
			copies:  []cloud.Copy{cp("r1", "m-1", 0), cp("r2", "m-2", 0)},
			want:    []string{"r1/m-1:cancel[c]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := mustParse(t, tt.policies)
			plan := set.EvaluateCopies(tt.trigger, tt.copies, benchNow, tt.opts...)
			if got := summary(plan); !slices.Equal(got, tt.want) {
				t.Errorf("decisions:\n got %v\nwant %v", got, tt.want)
			}
			if tt.fired != nil && !slices.Equal(plan.Fired, tt.fired) {
				t.Errorf("fired: got %v, want %v", plan.Fired, tt.fired)
			}
			if len(plan.Errors) > 0 {
				t.Errorf("unexpected errors: %+v", plan.Errors)
			}
			plain := set.EvaluateCopies(tt.trigger, tt.copies, benchNow, append(tt.opts, plainEval())...)
			if got := summary(plain); !slices.Equal(got, tt.want) {
				t.Errorf("plain evaluation differs:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// plainEval evaluates without index and hoisting: the reference semantics.
func plainEval() EvalOption { return func(c *evalConfig) { c.plain = true } }

func TestEvaluateReasons(t *testing.T) {
	set := mustParse(t, `policies:
  - {name: wide, on: ["*"], match: "true", action: cancel, max_cancels: 1}
  - {name: gold, on: ["*"], match: copy.image_id == "m-3", action: protect}
  - {name: dry, on: ["*"], match: copy.image_id == "m-4", action: cancel, dry_run: true}
  - {name: one, on: ["*"], match: copy.image_id == "m-5", action: cancel}`)
	copies := []cloud.Copy{cp("r", "m-1", 0), cp("r", "m-2", 0), cp("r", "m-3", 0), cp("r", "m-4", 0), cp("r", "m-5", 0)}
	plan := set.EvaluateCopies(trig("x", nil), copies, benchNow)
	want := map[string]string{
		"r/m-1": `held: policy "wide" selected 4 copies, max_cancels is 1`,
		"r/m-3": `protected by policy "gold" against policy "wide"`,
		"r/m-4": `dry run: policy "dry" would cancel it`,
		"r/m-5": `selected by policy "one"`,
	}
	for _, d := range plan.Decisions {
		if w, ok := want[d.Copy.Key()]; ok && d.Reason != w {
			t.Errorf("%s: reason %q, want %q", d.Copy.Key(), d.Reason, w)
		}
	}
}

func TestEvaluateRuntimeErrors(t *testing.T) {
	set := mustParse(t, `policies:
  - {name: team, on: ["*"], match: 'copy.tags["team"].startsWith("w")', action: cancel}
  - {name: bad-when, on: ["*"], when: trigger.data.percent > 1, match: "true", action: cancel}
  - {name: bad-rhs, on: ["*"], match: copy.region == trigger.data.region, action: cancel}`)
	var copies []cloud.Copy
	for i := range 150 {
		copies = append(copies, cp("r1", fmt.Sprintf("m-%03d", i), 0)) // no team tag: "no such key"
	}
	copies = append(copies, cp("r1", "m-web", 0, "team=web"))
	plan := set.EvaluateCopies(trig("x", map[string]any{}), copies, benchNow)
	if got := summary(plan); !slices.Equal(got, []string{"r1/m-web:cancel[team]"}) {
		t.Errorf("decisions %v", got)
	}
	if !slices.Equal(plan.Fired, []string{"team", "bad-rhs"}) {
		t.Errorf("fired %v", plan.Fired)
	}
	if len(plan.Errors) != MaxErrors || plan.ErrorsDropped != 152-MaxErrors {
		t.Fatalf("got %d errors and %d dropped, want %d and %d", len(plan.Errors), plan.ErrorsDropped, MaxErrors, 152-MaxErrors)
	}
	// The kept errors are the first in (policy, field, region, image) order.
	first := plan.Errors[0]
	if first.Policy != "bad-rhs" || first.Field != "match" || first.ImageID != "" || !strings.Contains(first.Message, "no such key: region") {
		t.Errorf("first error %+v", first)
	}
	if e := plan.Errors[1]; e.Policy != "bad-when" || e.Field != "when" || !strings.Contains(e.Message, "no such key: percent") {
		t.Errorf("second error %+v", e)
	}
	if e := plan.Errors[2]; e.Policy != "team" || e.ImageID != "m-000" || e.Region != "r1" || e.Message != "no such key: team" {
		t.Errorf("third error %+v", e)
	}
	if !slices.IsSortedFunc(plan.Errors, compareErr) {
		t.Error("errors not sorted")
	}
}

func TestEvaluateCostLimit(t *testing.T) {
	set := mustParse(t, `policies:
  - name: slow
    on: ["*"]
    match: trigger.data.items.all(a, trigger.data.items.all(b, trigger.data.items.all(c, a + b + c >= 0.0)))
    action: cancel`)
	items := make([]any, 100)
	for i := range items {
		items[i] = float64(i)
	}
	start := time.Now()
	plan := set.EvaluateCopies(trig("x", map[string]any{"items": items}), []cloud.Copy{cp("r", "m-1", 0)}, benchNow)
	if len(plan.Decisions) != 0 || len(plan.Errors) != 1 || !strings.Contains(plan.Errors[0].Message, "cost limit") {
		t.Errorf("decisions %v, errors %+v", summary(plan), plan.Errors)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v; the cost limit should stop it early", d)
	}
}

func TestEvaluateDeterministic(t *testing.T) {
	set := mustParse(t, benchPolicies)
	idx := NewCopyIndex()
	for _, c := range inventory(20_000, 7) {
		idx.Put(c)
	}
	for _, tr := range []Trigger{budgetTrigger("cc-2", 130), {Type: "region.quarantined", Data: map[string]any{"region": "cn-beijing"}}} {
		a := set.Evaluate(tr, idx, benchNow)
		b := set.Evaluate(tr, idx, benchNow)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: two evaluations differ", tr.Type)
		}
		if !slices.IsSortedFunc(a.Decisions, func(x, y Decision) int {
			return strings.Compare(x.Copy.Region+"\x00"+x.Copy.ImageID, y.Copy.Region+"\x00"+y.Copy.ImageID)
		}) {
			t.Errorf("%s: decisions not sorted by (region, image_id)", tr.Type)
		}
		for _, d := range a.Decisions {
			if !slices.IsSorted(d.Policies) || !slices.IsSorted(d.Vetoed) {
				t.Fatalf("unsorted names in %+v", d)
			}
		}
	}
}

func TestEvaluateNilIndexAndEmptySet(t *testing.T) {
	set := mustParse(t, `policies: []`)
	if p := set.Evaluate(trig("x", nil), NewCopyIndex(), benchNow); len(p.Fired)+len(p.Decisions)+len(p.Errors) != 0 {
		t.Errorf("empty set: %+v", p)
	}
	set = mustParse(t, benchPolicies)
	if p := set.Evaluate(budgetTrigger("cc-1", 200), nil, benchNow); len(p.Decisions) != 0 {
		t.Errorf("nil index: %+v", p)
	}
}
