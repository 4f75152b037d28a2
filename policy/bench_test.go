package policy

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

func benchIndex(b *testing.B) (*Set, *CopyIndex) {
	b.Helper()
	set := mustParse(b, benchPolicies)
	idx := NewCopyIndex()
	for _, c := range inventory(100_000, 42) {
		idx.Put(c)
	}
	return set, idx
}

func benchEvaluate(b *testing.B, t Trigger) {
	set, idx := benchIndex(b)
	plan := set.Evaluate(t, idx, benchNow)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		set.Evaluate(t, idx, benchNow)
	}
	// CPU time per evaluation (all threads, GC included) is reported next
	// to wall time because a shared machine inflates the latter.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(len(plan.Decisions)), "decisions")
}

// cpuTime is the process's user plus system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvaluate is the SPEC §8.1 figure: one budget trigger against
// 100,000 copies and 20 policies (two cancel policies narrowed by the tag
// index, one full scan, two skipped by when, three protect policies).
func BenchmarkEvaluate(b *testing.B) {
	benchEvaluate(b, budgetTrigger("cc-3", 120))
}

// BenchmarkEvaluateQuarantine selects a whole region (about 16,000 copies)
// plus a full scan on the source region.
func BenchmarkEvaluateQuarantine(b *testing.B) {
	benchEvaluate(b, Trigger{ID: "t-2", Type: "region.quarantined", Data: map[string]any{"region": "cn-beijing"}})
}

// BenchmarkEvaluateNoMatch is the "trigger that selects nothing" path: an
// operator cancel for a copy not in the inventory.
func BenchmarkEvaluateNoMatch(b *testing.B) {
	benchEvaluate(b, Trigger{ID: "t-3", Type: "cancel.requested", Data: map[string]any{"image_id": "m-nope", "region": "cn-beijing"}})
}

// BenchmarkEvaluateUnlistened is a trigger type only the "*" protect
// policies listen to.
func BenchmarkEvaluateUnlistened(b *testing.B) {
	benchEvaluate(b, Trigger{ID: "t-4", Type: "something.else", Data: map[string]any{}})
}

// BenchmarkEvaluateOperatorCancel selects exactly one copy by image id.
func BenchmarkEvaluateOperatorCancel(b *testing.B) {
	benchEvaluate(b, Trigger{ID: "t-5", Type: "cancel.requested", Data: map[string]any{"image_id": "m-00000010", "region": inventory(11, 42)[10].Region}})
}

// BenchmarkIndexMemory reports the heap the CopyIndex holds for 100,000
// copies, copies included.
func BenchmarkIndexMemory(b *testing.B) {
	var keep *CopyIndex
	var before, after runtime.MemStats
	for b.Loop() {
		keep = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		idx := NewCopyIndex()
		for _, c := range inventory(100_000, 42) {
			idx.Put(c)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		keep = idx
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc), "heap-bytes")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/100_000, "bytes/copy")
	runtime.KeepAlive(keep)
	// The copies alone, as a []cloud.Copy: what is left is the index.
	keep = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	data := inventory(100_000, 42)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/100_000, "data-bytes/copy")
	runtime.KeepAlive(data)
}

// BenchmarkIndexPut is the cost of one inventory update.
func BenchmarkIndexPut(b *testing.B) {
	copies := inventory(100_000, 42)
	idx := NewCopyIndex()
	for _, c := range copies {
		idx.Put(c)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		idx.Put(copies[i%len(copies)])
		i++
	}
}
