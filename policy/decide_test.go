package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/copyguard/copyguard/cloud"
)

// TestSortedOrder checks the packed-prefix sort against a plain string
// sort, with ids that tie in their first 24 bytes, are short, or hold NULs.
func TestSortedOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	long := strings.Repeat("m-bp1abcdefghijklmnopqrstuvwxyz", 2)
	var sel []selection
	for i := range 5000 {
		var id string
		switch rng.IntN(4) {
		case 0:
			id = long + fmt.Sprint(rng.IntN(100))
		case 1:
			id = fmt.Sprintf("m-%d", rng.IntN(1000))
		case 2:
			id = "m\x00" + fmt.Sprint(rng.IntN(50))
		default:
			id = fmt.Sprintf("m-%08x-%d", rng.Uint32(), i)
		}
		region := []string{"cn-hangzhou", "cn-beijing", "", "eu-central-1"}[rng.IntN(4)]
		sel = append(sel, selection{copy: &cloud.Copy{Region: region, ImageID: id}})
	}
	keys := sortedOrder(sel)
	got := make([]string, len(keys))
	for i, k := range keys {
		got[i] = sel[k.i].copy.Region + "\x00" + sel[k.i].copy.ImageID
	}
	if !slices.IsSorted(got) {
		t.Error("not sorted by (region, image_id)")
	}
}

func TestErrorLogKeepsSmallest(t *testing.T) {
	var a, b errorLog
	for i := range 150 {
		a.add(EvalError{Policy: "p", ImageID: fmt.Sprintf("m-%03d", 299-i)})
		b.add(EvalError{Policy: "p", ImageID: fmt.Sprintf("m-%03d", i)})
	}
	a.merge(&b)
	kept, dropped := a.result()
	if len(kept) != MaxErrors || dropped != 200 {
		t.Fatalf("kept %d, dropped %d", len(kept), dropped)
	}
	if kept[0].ImageID != "m-000" || kept[MaxErrors-1].ImageID != "m-099" {
		t.Errorf("kept %s ... %s", kept[0].ImageID, kept[MaxErrors-1].ImageID)
	}
	var empty errorLog
	if e, n := empty.result(); e != nil || n != 0 {
		t.Error("empty log")
	}
}

// TestMeteredCostIsPerEvaluation: a metered program gets a fresh cost
// budget for every copy, so many cheap evaluations never add up to the
// limit, while the reusable frame serves the unmetered ones.
func TestMeteredCostIsPerEvaluation(t *testing.T) {
	set := mustParse(t, `policies:
  - {name: m, on: ["*"], match: "trigger.data.items.exists(i, i == copy.name)", action: cancel}
  - {name: u, on: ["*"], match: "copy.progress >= 0", action: cancel, dry_run: true}`)
	m := set.Policy("m").match
	plain, hoisted := m.Metered()
	if !plain || !m.Hoisted() {
		t.Fatal("a comprehension over trigger data should be metered, and its range hoisted")
	}
	if !hoisted {
		t.Fatal("the hoisted form should be metered too")
	}
	if plain, _ := set.Policy("u").match.Metered(); plain {
		t.Fatal("a comparison should not be metered")
	}
	items := make([]any, 200)
	for i := range items {
		items[i] = fmt.Sprint("n-", i)
	}
	var copies []cloud.Copy
	for i := range 600 { // 600 × ~600 ≫ 100,000
		c := cp("r", fmt.Sprintf("m-%04d", i), 0)
		c.Name = "n-199"
		copies = append(copies, c)
	}
	plan := set.EvaluateCopies(trig("x", map[string]any{"items": items}), copies, benchNow)
	if len(plan.Errors) != 0 || len(plan.Decisions) != 600 || plan.Decisions[0].Action != ActionCancel {
		t.Errorf("errors %v, %d decisions", plan.Errors, len(plan.Decisions))
	}
}
