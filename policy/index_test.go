package policy

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/copyguard/copyguard/cloud"
)

func keys(cs []*cloud.Copy) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Key())
	}
	slices.Sort(out)
	return out
}

func TestIndexPutGetDelete(t *testing.T) {
	x := NewCopyIndex()
	x.Put(cp("r1", "m-1", 10, "team=web"))
	x.Put(cp("r2", "m-1", 20, "team=web"))
	x.Put(cp("r1", "m-2", 30, "team=data"))
	if x.Len() != 3 {
		t.Fatalf("len %d", x.Len())
	}
	if c, ok := x.Get("r2", "m-1"); !ok || c.Progress != 20 {
		t.Errorf("get r2/m-1: %+v %v", c, ok)
	}
	if _, ok := x.Get("r3", "m-1"); ok {
		t.Error("found a copy that is not there")
	}
	tag := &indexTerm{field: termTag, tag: "team"}
	if got := keys(x.lookupLocked(&termValues{term: tag, values: []string{"web"}})); !slices.Equal(got, []string{"r1/m-1", "r2/m-1"}) {
		t.Errorf("by tag: %v", got)
	}
	// Replacing a copy moves it between tag sets.
	x.Put(cp("r1", "m-1", 50, "team=data"))
	if got := keys(x.lookupLocked(&termValues{term: tag, values: []string{"web"}})); !slices.Equal(got, []string{"r2/m-1"}) {
		t.Errorf("by old tag after replace: %v", got)
	}
	if got := keys(x.lookupLocked(&termValues{term: tag, values: []string{"data", "data"}})); !slices.Equal(got, []string{"r1/m-1", "r1/m-2"}) {
		t.Errorf("by new tag after replace (duplicate values): %v", got)
	}
	if x.Len() != 3 {
		t.Errorf("replace changed len to %d", x.Len())
	}
	x.Delete("r1", "m-1")
	x.Delete("r1", "m-1") // twice is fine
	x.Delete("r9", "m-9") // unknown is fine
	if got := keys(x.lookupLocked(&termValues{term: &indexTerm{field: termRegion}, values: []string{"r1"}})); !slices.Equal(got, []string{"r1/m-2"}) {
		t.Errorf("by region after delete: %v", got)
	}
	if got := keys(x.lookupLocked(&termValues{term: &indexTerm{field: termImageID}, values: []string{"m-1"}})); !slices.Equal(got, []string{"r2/m-1"}) {
		t.Errorf("by image after delete: %v", got)
	}

	// A freed slot is reused.
	x.Put(cp("r3", "m-3", 0))
	if len(x.slots) != 3 || x.Len() != 3 {
		t.Errorf("slots %d, len %d", len(x.slots), x.Len())
	}
	all := x.All()
	var got []string
	for _, c := range all {
		got = append(got, c.Key())
	}
	if !slices.Equal(got, []string{"r1/m-2", "r2/m-1", "r3/m-3"}) {
		t.Errorf("All: %v", got)
	}
}

func TestIndexSameImageInSeveralRegions(t *testing.T) {
	x := NewCopyIndex()
	byImage := func() []string {
		return keys(x.lookupLocked(&termValues{term: &indexTerm{field: termImageID}, values: []string{"m-1"}}))
	}
	for _, r := range []string{"r1", "r2", "r3"} {
		x.Put(cp(r, "m-1", 0))
	}
	x.Delete("r1", "m-1") // the first one, kept outside imageMore
	if got := byImage(); !slices.Equal(got, []string{"r2/m-1", "r3/m-1"}) {
		t.Errorf("after deleting the first: %v", got)
	}
	x.Delete("r3", "m-1")
	if got := byImage(); !slices.Equal(got, []string{"r2/m-1"}) {
		t.Errorf("after deleting another: %v", got)
	}
	x.Delete("r2", "m-1")
	if len(x.byImage)+len(x.imageMore) != 0 || byImage() != nil {
		t.Errorf("not empty: %v %v", x.byImage, x.imageMore)
	}
}

func TestIndexEmptyTagsAreNotIndexed(t *testing.T) {
	x := NewCopyIndex()
	x.Put(cloud.Copy{ImageID: "m-1", Region: "r1"})
	x.Delete("r1", "m-1")
	if len(x.byTag) != 0 || len(x.byRegion) != 0 || len(x.byImage) != 0 || len(x.imageMore) != 0 || len(x.byKey) != 0 {
		t.Errorf("index not empty after delete: %+v", x)
	}
}

// TestIndexConcurrentUse runs updates and evaluations at once; run with
// -race. Copies are replaced, never mutated, so evaluations that hold
// pointers stay consistent.
func TestIndexConcurrentUse(t *testing.T) {
	set := mustParse(t, benchPolicies)
	x := NewCopyIndex()
	copies := inventory(3000, 3)
	for _, c := range copies {
		x.Put(c)
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				c := copies[(i*7+w)%len(copies)]
				c.Progress = i % 100
				c.Tags = map[string]string{"cost-center": benchCenters[i%len(benchCenters)]}
				if i%5 == 0 {
					x.Delete(c.Region, c.ImageID)
				} else {
					x.Put(c)
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				set.Evaluate(budgetTrigger(benchCenters[i%len(benchCenters)], 120), x, benchNow)
				_ = x.All()
			}
		}()
	}
	wg.Wait()
	if n := x.Len(); n > len(copies) {
		t.Errorf("len %d > %d", n, len(copies))
	}
}

func TestIndexCount(t *testing.T) {
	x := NewCopyIndex()
	for i := range 10 {
		x.Put(cp(fmt.Sprintf("r%d", i%2), fmt.Sprintf("m-%d", i), 0))
	}
	if n := x.countLocked(&termValues{term: &indexTerm{field: termRegion}, values: []string{"r0", "r1", "r9"}}); n != 10 {
		t.Errorf("count %d", n)
	}
}
