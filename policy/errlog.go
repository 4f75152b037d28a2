package policy

import (
	"cmp"
	"container/heap"
	"slices"
)

// errorLog keeps the MaxErrors smallest errors in (policy, field, region,
// image_id, message) order and counts the rest. Keeping the smallest rather
// than the first makes the reported set independent of scan order, which
// map iteration and parallel scans do not fix.
type errorLog struct {
	kept  errHeap
	total int
}

func (l *errorLog) add(e EvalError) {
	l.total++
	if len(l.kept) < MaxErrors {
		heap.Push(&l.kept, e)
		return
	}
	if compareErr(e, l.kept[0]) < 0 {
		l.kept[0] = e
		heap.Fix(&l.kept, 0)
	}
}

func (l *errorLog) merge(o *errorLog) {
	for _, e := range o.kept {
		l.add(e)
	}
	// add counted the kept ones; count the ones o already dropped.
	l.total += o.total - len(o.kept)
}

// result returns the kept errors sorted, and how many were dropped.
func (l *errorLog) result() ([]EvalError, int) {
	if l.total == 0 {
		return nil, 0
	}
	out := slices.Clone([]EvalError(l.kept))
	slices.SortFunc(out, compareErr)
	return out, l.total - len(out)
}

func compareErr(a, b EvalError) int {
	return cmp.Or(cmp.Compare(a.Policy, b.Policy), cmp.Compare(a.Field, b.Field),
		cmp.Compare(a.Region, b.Region), cmp.Compare(a.ImageID, b.ImageID), cmp.Compare(a.Message, b.Message))
}

// errHeap is a max-heap, so the largest kept error is the one replaced.
type errHeap []EvalError

func (h errHeap) Len() int           { return len(h) }
func (h errHeap) Less(i, j int) bool { return compareErr(h[i], h[j]) > 0 }
func (h errHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *errHeap) Push(x any)        { *h = append(*h, x.(EvalError)) }
func (h *errHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
