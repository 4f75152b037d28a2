package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/copyguard/copyguard/cloud"
)

// propertyPolicies adds, to the benchmark set, policies whose index terms
// and hoisted parts meet awkward input: lists, dyn elements, either order,
// select syntax for tags, and trigger data that may be missing or mistyped.
const propertyPolicies = benchPolicies + `
  - name: p-team-regions
    on: [prop]
    match: copy.tags.team == trigger.data.team && copy.region in trigger.data.regions
    action: cancel
  - name: p-or
    on: [prop]
    match: trigger.data.region == copy.region || copy.progress > 98
    action: cancel
    dry_run: true
  - name: p-image
    on: [prop]
    match: trigger.data.image_id == copy.image_id
    action: cancel
  - name: p-mixed-list
    on: [prop]
    match: copy.region in ["cn-hangzhou", trigger.data.region]
    action: cancel
    max_cancels: 300
  - name: p-env-progress
    on: [prop]
    match: copy.tags["env"] == trigger.data.env && copy.progress < trigger.data.max_progress
    action: cancel
  - name: p-team-default
    on: [prop]
    match: copy.tags.?team.orValue("web") == trigger.data.team && copy.tags[?"env"].orValue("") in ["prod", trigger.data.env]
    action: cancel
  - name: p-exists
    on: [prop]
    match: trigger.data.?regions.orValue([]).exists(r, r == copy.region) && copy.progress < 80
    action: cancel
  - name: p-in-map
    on: [prop]
    match: copy.region in trigger.data.?regions.orValue([]).map(r, string(r)) && trigger.data.?regions.orValue([]).all(r, type(r) == string)
    action: cancel
    dry_run: true
  - name: p-protect-team
    on: [prop]
    match: copy.tags["team"] == trigger.data.protect_team
    action: protect
  - name: p-not-region
    on: [prop]
    match: '!(copy.region == trigger.data.region) && copy.tags.?team.orValue("") == trigger.data.team'
    action: cancel
    dry_run: true
  - name: p-ne-region
    on: [prop]
    match: copy.region != trigger.data.region && copy.progress > 95
    action: cancel
  - name: p-not-in
    on: [prop]
    match: '!(copy.region in trigger.data.?regions.orValue([])) && copy.tags[?"env"].orValue("") == "prod"'
    action: cancel
    max_cancels: 50
  - name: p-derived
    on: [prop]
    match: copy.region == trigger.data.?region.orValue("").lowerAscii() && copy.tags.?env.orValue("none") in [trigger.data.?env.orValue("x"), "staging"]
    action: cancel
  - name: p-hoisted-cmp
    on: [prop]
    match: 'copy.progress < (trigger.data.?max_progress.orValue(0) == "x" ? 10 : 60) && copy.image_id == trigger.data.image_id'
    action: cancel
  - name: p-protect-not-env
    on: [prop]
    match: copy.tags[?"env"].orValue("") != "prod" && copy.region in trigger.data.?regions.orValue([])
    action: protect
  - name: p-protect-image
    on: [prop]
    match: copy.image_id == trigger.data.image_id || copy.tags.?team.orValue("") == trigger.data.protect_team
    action: protect
`

// randomTrigger makes a trigger whose data fields are sometimes missing,
// sometimes of the wrong type, and sometimes name nothing in the inventory.
func randomTrigger(rng *rand.Rand, copies []cloud.Copy) Trigger {
	pick := func(xs []string) any {
		switch rng.IntN(10) {
		case 0:
			return nil // dropped below
		case 1:
			return 42.0 // wrong type
		case 2:
			return "nowhere"
		}
		return xs[rng.IntN(len(xs))]
	}
	data := map[string]any{}
	set := func(k string, v any) {
		if v != nil {
			data[k] = v
		}
	}
	set("region", pick(benchRegions))
	set("team", pick(benchTeams))
	set("protect_team", pick(benchTeams))
	set("env", pick([]string{"prod", "staging", "dev"}))
	set("max_progress", []any{nil, 50.0, 90, "x"}[rng.IntN(4)])
	if len(copies) > 0 {
		set("image_id", pick([]string{copies[rng.IntN(len(copies))].ImageID}))
	}
	var regions []any
	for _, r := range benchRegions {
		if rng.IntN(3) == 0 {
			regions = append(regions, r)
		}
	}
	if rng.IntN(5) == 0 {
		regions = append(regions, 7.0)
	}
	set("regions", []any{nil, regions}[rng.IntN(2)])
	set("percent", []any{nil, 95.0, 120.0, 170.0}[rng.IntN(4)])
	set("scope", map[string]any{"tags": map[string]any{"cost-center": pick(benchCenters)}})
	types := []string{"prop", "prop", "budget.exceeded", "region.quarantined", "cancel.requested", "copy.sweep", "schedule.nightly", "team.frozen"}
	return Trigger{ID: "t", Type: types[rng.IntN(len(types))], Data: data}
}

// TestIndexMatchesPlainEvaluation is the property the index and hoisting
// rest on: on random inventories and triggers, the fast path decides
// exactly what running every match on every copy decides.
func TestIndexMatchesPlainEvaluation(t *testing.T) {
	set := mustParse(t, propertyPolicies)
	rounds := 30
	if testing.Short() {
		rounds = 15
	}
	for seed := range uint64(rounds) {
		rng := rand.New(rand.NewPCG(seed, 99))
		n := rng.IntN(1500)
		if seed%10 == 0 {
			n = parallelMin + rng.IntN(3000) // exercise the parallel scan
		}
		copies := inventory(n, seed)
		for i := range copies {
			if rng.IntN(10) == 0 {
				copies[i].Tags = nil // untagged copies: missing keys everywhere
			}
		}
		idx := NewCopyIndex()
		for _, c := range copies {
			idx.Put(c)
		}
		for range 8 {
			tr := randomTrigger(rng, copies)
			fast := set.Evaluate(tr, idx, benchNow)
			plain := set.Evaluate(tr, idx, benchNow, plainEval())
			if !slices.Equal(summary(fast), summary(plain)) || !slices.Equal(fast.Fired, plain.Fired) {
				t.Fatalf("seed %d, trigger %s %v:\nfast  %d decisions, fired %v\nplain %d decisions, fired %v\nfirst difference: %s",
					seed, tr.Type, tr.Data, len(fast.Decisions), fast.Fired, len(plain.Decisions), plain.Fired,
					firstDiff(summary(fast), summary(plain)))
			}
		}
	}
}

// TestNegationsAreNotIndexed: the policies above that pin a field only
// through a negation or a disjunction have no index term on it.
func TestNegationsAreNotIndexed(t *testing.T) {
	set := mustParse(t, propertyPolicies)
	for name, indexed := range map[string]bool{
		"p-not-region":    true, // by the team tag only
		"p-ne-region":     false,
		"p-not-in":        true, // by the env tag: its default "" is not "prod"
		"p-or":            false,
		"p-protect-image": false,
		"p-derived":       true,
		"p-hoisted-cmp":   true,
	} {
		p := set.Policy(name)
		if p == nil {
			t.Fatalf("no policy %s", name)
		}
		if p.Indexed() != indexed {
			t.Errorf("%s: indexed %v, want %v", name, p.Indexed(), indexed)
		}
		for _, term := range p.terms {
			if term.Key.Field.String() == "region" && (name == "p-not-region" || name == "p-ne-region" || name == "p-not-in") {
				t.Errorf("%s: narrowed by region through a negation (%s)", name, term.Src)
			}
		}
	}
}

// TestIndexMatchesPlainAfterChanges interleaves inventory changes with
// evaluations on one index, so that lookups meet reused slots, moved tags
// and deleted copies.
func TestIndexMatchesPlainAfterChanges(t *testing.T) {
	set := mustParse(t, propertyPolicies)
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 17))
		copies := inventory(400, seed)
		idx := NewCopyIndex()
		for _, c := range copies {
			idx.Put(c)
		}
		for round := range 20 {
			for range 40 {
				c := copies[rng.IntN(len(copies))]
				switch rng.IntN(3) {
				case 0:
					idx.Delete(c.Region, c.ImageID)
				case 1:
					c.Tags = map[string]string{"team": benchTeams[rng.IntN(len(benchTeams))], "env": []string{"prod", "dev"}[rng.IntN(2)]}
					c.Region = benchRegions[rng.IntN(len(benchRegions))]
					idx.Put(c)
				default:
					c.Progress = rng.IntN(100)
					idx.Put(c)
				}
			}
			tr := randomTrigger(rng, copies)
			fast := set.Evaluate(tr, idx, benchNow)
			plain := set.Evaluate(tr, idx, benchNow, plainEval())
			if !slices.Equal(summary(fast), summary(plain)) {
				t.Fatalf("seed %d round %d, trigger %s %v: %s", seed, round, tr.Type, tr.Data, firstDiff(summary(fast), summary(plain)))
			}
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%q vs %q", a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}
