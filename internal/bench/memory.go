package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/internal/benchdata"
	"github.com/copyguard/copyguard/policy"
)

// memSample is the process's memory after a full GC with the freed pages
// handed back to the OS, so RSS shows what is live rather than what the
// Go runtime kept around from earlier scenarios.
type memSample struct {
	heapAlloc, heapInuse uint64
	rss, rssAnon, hwm    uint64 // bytes, from /proc/self/status; hwm is the peak RSS
}

func sampleMemory() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heapAlloc: ms.HeapAlloc, heapInuse: ms.HeapInuse}
	s.rss, s.rssAnon, s.hwm = procStatus("VmRSS"), procStatus("RssAnon"), procStatus("VmHWM")
	return s
}

// procStatus reads one "kB" line of /proc/self/status, in bytes; 0 where
// there is no /proc.
func procStatus(key string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

func mb(b uint64) float64         { return float64(b) / (1 << 20) }
func mbDelta(a, b uint64) float64 { return (float64(b) - float64(a)) / (1 << 20) }

// runMemory: the inventory of N copies in the worker. The copies go into
// the inventory bucket (the worker mirrors them into its index), not into
// the simulator. The process also hosts the embedded nats-server, which
// stores the bucket, and the idle simulator, as copyguard run with its
// embedded NATS would host the server; the figures say which is which.
func runMemory(ctx context.Context, o *Options) ([]row, error) {
	const sc = "memory"
	w, err := startEnv(ctx, o, envConfig{qps: 10, burst: 1})
	if err != nil {
		return nil, err
	}
	before := sampleMemory()
	rng := rand.New(rand.NewPCG(42, 1))
	now := time.Now()
	// In chunks, so the bench itself does not hold the whole inventory.
	for start := 0; start < o.MemoryN; start += 10_000 {
		chunk := make([]cloud.Copy, 0, min(10_000, o.MemoryN-start))
		for i := start; i < start+cap(chunk); i++ {
			chunk = append(chunk, inventoryCopy(rng, i, now))
		}
		if err := w.seed(ctx, chunk, false); err != nil {
			w.close()
			return nil, err
		}
	}
	loaded := sampleMemory()
	// nats-server keeps the blocks it just wrote cached for 10 s; a worker
	// that has run for a while holds its inventory without them.
	select {
	case <-time.After(o.MemorySettle):
	case <-ctx.Done():
		w.close()
		return nil, ctx.Err()
	}
	after := sampleMemory()
	held := w.app.Worker.Inventory().Len()
	if o.MemProfile != "" {
		if err := writeHeapProfile(o.MemProfile); err != nil {
			w.close()
			return nil, err
		}
	}
	w.close()
	index := indexHeap(o.MemoryN)

	n := fmt.Sprintf("%d copies", o.MemoryN)
	return []row{
		infoRow(sc, "process RSS right after loading "+n, mb(loaded.rss), "MB",
			fmt.Sprintf("memory: VmRSS after GC and FreeOSMemory; before loading %.1f MB (RssAnon %.1f MB); right after %.1f MB (RssAnon %.1f MB, Go heap %.1f MB); "+
				"the RSS counts the whole process: worker, embedded nats-server, the idle simulator, the bench, the mapped binary",
				mb(before.rss), mb(before.rssAnon), mb(loaded.rss), mb(loaded.rssAnon), mb(loaded.heapAlloc))),
		targetRow(sc, fmt.Sprintf("process RSS with %s, %v later (worker + embedded NATS + simulator)", n, o.MemorySettle), "< 150 MB", mb(after.rss), "MB", after.rss < 150<<20,
			fmt.Sprintf("memory: %d copies in the worker's index; VmRSS %.1f MB, RssAnon %.1f MB, Go HeapAlloc %.1f MB, HeapInuse %.1f MB",
				held, mb(after.rss), mb(after.rssAnon), mb(after.heapAlloc), mb(after.heapInuse))),
		infoRow(sc, "RSS growth from an empty inventory to "+n, mbDelta(before.rss, after.rss), "MB", ""),
		infoRow(sc, "peak RSS of the process so far (VmHWM)", mb(after.hwm), "MB",
			"memory: the highest RSS since the process started, loading included; memory runs first, so no other scenario is in it"),
		infoRow(sc, "Go heap growth (worker index + NATS state)", mbDelta(before.heapAlloc, after.heapAlloc), "MB",
			fmt.Sprintf("memory: HeapAlloc after GC %.1f → %.1f MB (%.1f right after loading); NATS and the worker share one heap",
				mb(before.heapAlloc), mb(after.heapAlloc), mb(loaded.heapAlloc))),
		infoRow(sc, "policy.CopyIndex alone with "+n, mb(index), "MB",
			fmt.Sprintf("memory: the same copies decoded from JSON and put into a fresh policy.CopyIndex in this process after the world stopped: %.0f bytes per copy", float64(index)/float64(o.MemoryN))),
	}, nil
}

// indexHeap is the heap a policy.CopyIndex holds for n copies that came
// through JSON, as the worker's mirror gets them (each copy with its own
// strings and tag map).
func indexHeap(n int) uint64 {
	rng := rand.New(rand.NewPCG(42, 1))
	now := time.Now()
	before := sampleMemory()
	idx := policy.NewCopyIndex()
	for i := range n {
		b, _ := json.Marshal(inventoryCopy(rng, i, now))
		var c cloud.Copy
		if json.Unmarshal(b, &c) == nil {
			idx.Put(c)
		}
	}
	after := sampleMemory()
	runtime.KeepAlive(idx)
	if after.heapAlloc < before.heapAlloc {
		return 0
	}
	return after.heapAlloc - before.heapAlloc
}

// runEval: one trigger against N copies and the 20 bench policies,
// timing policy.Set.Evaluate itself (what the worker calls per trigger).
func runEval(ctx context.Context, o *Options) ([]row, error) {
	const sc = "eval"
	// The workload's 20 policies alone, without bench-batch.
	set, err := policy.Parse("workload.yaml", []byte(benchdata.Policies))
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(42, 1))
	now := time.Now()
	idx := policy.NewCopyIndex()
	for i := range o.EvalN {
		idx.Put(inventoryCopy(rng, i, now))
	}
	triggers := []struct {
		about string
		t     policy.Trigger
	}{
		{"budget.exceeded for one of 8 cost centres", policy.Trigger{ID: "bench-budget", Type: "budget.exceeded", Source: "bench", Time: now,
			Data: map[string]any{"budget": "b", "percent": 120.0, "scope": map[string]any{"tags": map[string]any{"cost-center": "cc-3"}}}}},
		{"region.quarantined for one of 6 regions", policy.Trigger{ID: "bench-quarantine", Type: "region.quarantined", Source: "bench", Time: now,
			Data: map[string]any{"region": regions[2], "reason": "bench"}}},
	}
	var rows []row
	for _, tr := range triggers {
		plan := set.Evaluate(tr.t, idx, now) // warm-up, and the figures below
		times := make([]time.Duration, 0, o.EvalRuns)
		cpu0 := processCPU()
		for range o.EvalRuns {
			if ctx.Err() != nil {
				return rows, ctx.Err()
			}
			t0 := time.Now()
			set.Evaluate(tr.t, idx, now)
			times = append(times, time.Since(t0))
		}
		cpu := (processCPU() - cpu0) / time.Duration(o.EvalRuns)
		slices.Sort(times)
		p50 := percentile(times, 0.5)
		rows = append(rows, targetRow(sc, fmt.Sprintf("%s vs %d copies, %d policies (median)", tr.t.Type, idx.Len(), len(set.Policies())),
			"< 100 ms", ms(p50), "ms", p50 < 100*time.Millisecond,
			fmt.Sprintf("eval: %s; %d runs, min %.1f ms, max %.1f ms, process CPU %.1f ms per run (GC included); %d policies fired, %d copies decided, %d eval errors",
				tr.about, len(times), ms(times[0]), ms(times[len(times)-1]), ms(cpu), len(plan.Fired), len(plan.Decisions), len(plan.Errors))))
	}
	return rows, nil
}

// writeHeapProfile writes the live heap as it is now (after the GC that
// sampleMemory ran), with the inventory loaded.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("--memprofile: %w", err)
	}
	return f.Close()
}
