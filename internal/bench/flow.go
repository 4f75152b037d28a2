package bench

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecssim"
)

// runLatency: trigger published → first CancelCopyImage request received
// by the simulator, which answers at once. Triggers go one at a time, each
// for its own copy; the next is sent once the previous copy's result is
// out, so every sample starts from an idle worker.
func runLatency(ctx context.Context, o *Options) ([]row, error) {
	const sc = "latency"
	// The rate limit is set well above the one-at-a-time pace so that it
	// never delays a call: this figure is about the path, not the limiter.
	w, err := startEnv(ctx, o, envConfig{qps: 1000, burst: 50})
	if err != nil {
		return nil, err
	}
	defer w.close()
	n := o.LatencyWarmup + o.LatencyN
	copies := make([]cloud.Copy, n)
	msgs := make([]*nats.Msg, n)
	for i := range copies {
		copies[i] = inFlightCopy(i, regions[i%4], "latency")
		if msgs[i], err = triggerMsg("cancel.requested", fmt.Sprintf("bench-latency-%d", i), map[string]any{
			"image_id": copies[i].ImageID, "region": copies[i].Region, "reason": "bench", "requested_by": "bench"}); err != nil {
			return nil, err
		}
	}
	if err := w.seed(ctx, copies, true); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, o.LatencyN)
	for i, c := range copies {
		got := w.spy.expect(c.ImageID)
		// The clock starts before the publish call, so the sample includes
		// storing the trigger in JetStream and waiting for its ack.
		t0 := time.Now()
		if _, err := w.js.PublishMsg(ctx, msgs[i]); err != nil {
			return nil, fmt.Errorf("publish trigger %d: %w", i, err)
		}
		select {
		case at := <-got:
			if i >= o.LatencyWarmup {
				lat = append(lat, at.Sub(t0))
			}
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("no CancelCopyImage for %s within 10s of its trigger", c.ImageID)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := wait(ctx, 10*time.Second, "the decision and result for "+c.ImageID, w.obs.changed, func() bool {
			_, ok := w.obs.outcome(c)
			n, _ := w.obs.decisions()
			return ok && n > i
		}); err != nil {
			return nil, err
		}
	}
	slices.Sort(lat)
	figure := "trigger published → first CancelCopyImage received"
	p99 := percentile(lat, 0.99)
	decide, _ := w.histMean("copyguard_decide_seconds")
	toCall, _ := w.histMean("copyguard_decided_to_call_seconds")
	call, _ := w.histMean("copyguard_cancel_call_seconds")
	note := fmt.Sprintf("latency: %d cancel.requested triggers one at a time, each waiting for the previous result; %d warm-up triggers not counted; worker --qps 1000 (never binding); "+
		"TCP connections to the simulator: %d; outcomes %v; the worker's own metrics (means, warm-up included): trigger received → decision published %.2f ms, "+
		"copy decided → cancel call starts %.2f ms, CancelCopyImage call %.2f ms",
		len(lat), o.LatencyWarmup, w.simConns.Load(), w.obs.outcomes(), decide, toCall, call)
	return []row{
		infoRow(sc, figure+", p50", ms(percentile(lat, 0.50)), "ms", ""),
		infoRow(sc, figure+", p90", ms(percentile(lat, 0.90)), "ms", ""),
		targetRow(sc, figure+", p99", "< 5 ms", ms(p99), "ms", p99 < 5*time.Millisecond, note),
		infoRow(sc, figure+", max", ms(lat[len(lat)-1]), "ms", ""),
	}, nil
}

// runFanout: one trigger selects N copies over R regions; the simulator
// throttles each region above Q calls/s and the worker runs with --qps Q.
// The regions are independent, so the bound is 1.1 × (N/R)/Q.
func runFanout(ctx context.Context, o *Options) ([]row, error) {
	const sc = "fanout"
	q := o.FanoutQPS
	w, err := startEnv(ctx, o, envConfig{qps: q, burst: 1})
	if err != nil {
		return nil, err
	}
	defer w.close()
	copies := make([]cloud.Copy, o.FanoutN)
	for i := range copies {
		copies[i] = inFlightCopy(i, regions[i%o.FanoutRegions], "fanout")
	}
	if err := w.seed(ctx, copies, true); err != nil {
		return nil, err
	}
	msg, err := triggerMsg("bench.batch", "bench-fanout", map[string]any{"batch": "fanout"})
	if err != nil {
		return nil, err
	}
	// Set the limit only now: seeding made no calls, and the buckets
	// restart full, as an API that was idle would be.
	w.sim.SetFaults(ecssim.Faults{ThrottleQPS: q})
	t0 := time.Now()
	if _, err := w.js.PublishMsg(ctx, msg); err != nil {
		return nil, err
	}
	perRegion := math.Ceil(float64(o.FanoutN) / float64(o.FanoutRegions))
	bound := time.Duration(1.1 * perRegion / q * float64(time.Second))
	if err := wait(ctx, 10*bound+30*time.Second, fmt.Sprintf("%d results", len(copies)), w.obs.changed, func() bool {
		n, _ := w.obs.resultCount()
		return n >= len(copies)
	}); err != nil {
		return nil, err
	}
	_, last := w.obs.resultCount()
	took := last.Sub(t0)
	sc0 := w.spy.counts(w.sim)
	total := w.sim.TotalCalls("CancelCopyImage")
	calledTwice := 0
	for _, c := range copies {
		if w.sim.Calls("CancelCopyImage", c.ImageID) > 1 {
			calledTwice++
		}
	}
	var spans []string
	for r, span := range sc0.regions {
		spans = append(spans, fmt.Sprintf("%s %.2f–%.2f s", r, span[0].Sub(t0).Seconds(), span[1].Sub(t0).Seconds()))
	}
	sort.Strings(spans)
	share := 0.0
	if total > 0 {
		share = 100 * float64(sc0.throttled) / float64(total)
	}
	return []row{
		targetRow(sc, fmt.Sprintf("%d copies, %d regions at %g calls/s: trigger → last result", len(copies), o.FanoutRegions, q),
			fmt.Sprintf("≤ %.2f s", bound.Seconds()), took.Seconds(), "s", took <= bound,
			fmt.Sprintf("fanout: bound 1.1 × %g/%g s; worker --qps %g --burst 1 --job-workers %d, simulator Throttling above %g/s per region (bucket %g); CancelCopyImage per region, first–last request after the trigger: %s; TCP connections to the simulator: %d; outcomes %v",
				perRegion, q, q, o.JobWorkers, q, math.Ceil(q), strings.Join(spans, ", "), w.simConns.Load(), w.obs.outcomes())),
		targetRow(sc, "calls answered Throttling", "< 5 %", share, "%", share < 5,
			fmt.Sprintf("fanout: %d of %d CancelCopyImage calls throttled; (TotalCalls − N)/TotalCalls = %d/%d", sc0.throttled, total, total-len(copies), total)),
		targetRow(sc, "copies cancelled twice (2+ calls not throttled)", "0", float64(sc0.duplicates), "", sc0.duplicates == 0,
			fmt.Sprintf("fanout: %d copies had more than one CancelCopyImage call in all; %d of them were retries after a Throttling answer", calledTwice, sc0.retried)),
	}, nil
}

// runThroughput: sustained decided cancels/s, simulator answering at
// once, rate limit out of the way; from the first trigger to the last
// result.
func runThroughput(ctx context.Context, o *Options) ([]row, error) {
	const sc = "throughput"
	w, err := startEnv(ctx, o, envConfig{qps: 1e6, burst: 1000})
	if err != nil {
		return nil, err
	}
	defer w.close()
	copies := make([]cloud.Copy, o.ThroughputN)
	for i := range copies {
		copies[i] = inFlightCopy(i, regions[i%o.ThroughputRegions], fmt.Sprintf("b%d", i%o.ThroughputTriggers))
	}
	if err := w.seed(ctx, copies, true); err != nil {
		return nil, err
	}
	msgs := make([]*nats.Msg, o.ThroughputTriggers)
	for i := range msgs {
		if msgs[i], err = triggerMsg("bench.batch", fmt.Sprintf("bench-throughput-%d", i), map[string]any{"batch": fmt.Sprintf("b%d", i)}); err != nil {
			return nil, err
		}
	}
	t0, cpu0 := time.Now(), processCPU()
	for _, m := range msgs {
		if _, err := w.js.PublishMsg(ctx, m); err != nil {
			return nil, err
		}
	}
	if err := wait(ctx, 5*time.Minute, fmt.Sprintf("%d results", len(copies)), w.obs.changed, func() bool {
		n, _ := w.obs.resultCount()
		return n >= len(copies)
	}); err != nil {
		return nil, err
	}
	cpu := processCPU() - cpu0
	_, last := w.obs.resultCount()
	took := last.Sub(t0)
	rate := float64(len(copies)) / took.Seconds()
	outcomes := w.obs.outcomes()
	return []row{
		targetRow(sc, "decided cancels per second (trigger → last result)", "≥ 2000/s", rate, "/s", rate >= 2000 && outcomes["cancelled"] == len(copies),
			fmt.Sprintf("throughput: %d copies over %d regions selected by %d bench.batch triggers, all results in %.2f s; worker --qps 1e6 --trigger-workers %d --job-workers %d; CancelCopyImage calls %d, TCP connections to the simulator %d; outcomes %v",
				len(copies), o.ThroughputRegions, o.ThroughputTriggers, took.Seconds(), o.TriggerWorkers, o.JobWorkers, w.sim.TotalCalls("CancelCopyImage"), w.simConns.Load(), outcomes)),
		cpuRow(sc, "CPU per decided cancel (whole process)", cpu, len(copies), took),
	}, nil
}

// runEmpty: triggers that select nothing (cancel.requested for copies
// nobody has), published as fast as the bench can; decisions per second
// from the first publish to the last decision event.
func runEmpty(ctx context.Context, o *Options) ([]row, error) {
	const sc = "empty"
	w, err := startEnv(ctx, o, envConfig{qps: 10, burst: 1})
	if err != nil {
		return nil, err
	}
	defer w.close()
	// Encoded up front: the bench shares the CPUs with the worker, and
	// building events is the producers' cost, not copyguard's.
	msgs := make([]*nats.Msg, o.EmptyN)
	for i := range msgs {
		if msgs[i], err = triggerMsg("cancel.requested", fmt.Sprintf("bench-empty-%d", i), map[string]any{
			"image_id": fmt.Sprintf("m-nobody%07d", i), "region": "cn-hangzhou", "reason": "bench"}); err != nil {
			return nil, err
		}
	}
	t0, cpu0 := time.Now(), processCPU()
	for _, m := range msgs {
		if err := w.publishAsync(ctx, m); err != nil {
			return nil, err
		}
	}
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	published := time.Since(t0)
	if err := wait(ctx, 5*time.Minute, fmt.Sprintf("%d decisions", len(msgs)), w.obs.changed, func() bool {
		n, _ := w.obs.decisions()
		return n >= len(msgs)
	}); err != nil {
		return nil, err
	}
	cpu := processCPU() - cpu0
	_, last := w.obs.decisions()
	took := last.Sub(t0)
	rate := float64(len(msgs)) / took.Seconds()
	return []row{
		targetRow(sc, "triggers that select nothing, decided per second", "≥ 20000/s", rate, "/s", rate >= 20000,
			fmt.Sprintf("empty: %d cancel.requested triggers for unknown copies, async publish (all stored after %.2f s, %.0f/s), last decision after %.2f s; CancelCopyImage calls %d",
				len(msgs), published.Seconds(), float64(len(msgs))/published.Seconds(), took.Seconds(), w.sim.TotalCalls("CancelCopyImage"))),
		cpuRow(sc, "CPU per trigger (whole process, publisher included)", cpu, len(msgs), took),
	}, nil
}

// cpuRow reports the process's CPU time per item over a measured window.
// The process holds the worker, NATS, the simulator and the bench's
// publisher and observer, so this is an upper bound on copyguard's own
// cost; GOMAXPROCS divided by it is the rate the process could reach
// with the cores to itself.
func cpuRow(sc, figure string, cpu time.Duration, items int, wall time.Duration) row {
	per := cpu / time.Duration(max(items, 1))
	ceiling := 0.0
	if per > 0 {
		ceiling = float64(runtime.GOMAXPROCS(0)) / per.Seconds()
	}
	return infoRow(sc, figure, ms(per), "ms", fmt.Sprintf("%s: %.2f s CPU over %.2f s wall (%.2f of %d cores); with the cores to itself the process would reach about %.0f/s",
		sc, cpu.Seconds(), wall.Seconds(), cpu.Seconds()/wall.Seconds(), runtime.GOMAXPROCS(0), ceiling))
}
