package policy

import (
	"sync"
	"testing"
)

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
