package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/internal/world"
)

// The fault tests of SPEC §10: real worker processes (startProc) against a
// NATS server or a 3-node cluster (natstest.Cluster) and the simulator.

// exited waits up to timeout for p to exit and returns its exit status
// and how long it ran; it fails the test if p is still running.
func (p *proc) exited(t *testing.T, started time.Time, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("copyguard still running after %v:\n%s", timeout, p.out.String())
	}
	took := time.Since(started)
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, took
	case errors.As(p.err, &ee):
		return ee.ExitCode(), took
	}
	t.Fatalf("wait: %v", p.err)
	return 0, took
}

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// workerArgs are the flags of a worker process against natsURL and the
// simulator at endpoint, with a console log at warn level; extra flags
// come last and so win.
func workerArgs(natsURL, endpoint, id, httpAddr string, extra ...string) []string {
	return append([]string{"run", "--nats-url", natsURL, "--policy", testPolicies,
		"--ecs-endpoint", endpoint, "--ecs-insecure", "--http-addr", httpAddr, "--instance-id", id,
		"--log-format", "console", "--log-level", "warn", "--shutdown-timeout", "5s"}, extra...)
}

// waitReady waits until p answers 200 on /readyz at addr.
func waitReady(t *testing.T, p *proc, addr string, timeout time.Duration) {
	t.Helper()
	natstest.WaitFor(t, "/readyz 200 from "+addr, timeout, func() bool {
		p.alive(t)
		code, _ := get("http://" + addr + "/readyz")
		return code == http.StatusOK
	})
}

// TestStartFailures: every start-up failure of SPEC §10 ends the process
// promptly with status 1 and one last line naming the cause, with no panic
// or goroutine trace anywhere; a topology mismatch is refused naming the
// consumer and both values, and --update-topology then starts.
func TestStartFailures(t *testing.T) {
	w := startWorld(t)
	endpoint := w.SimAddr()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	// A topology made with the defaults, for the mismatch cases.
	firstAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	first := startProc(t, runEnv, workerArgs(w.NATSURL(), endpoint, "first", firstAddr)...)
	waitReady(t, first, firstAddr, 60*time.Second)
	if err := first.stop(t); err != nil {
		t.Fatalf("first worker: %v", err)
	}

	for _, tt := range []struct {
		name   string
		args   []string
		want   []string // in the last line
		within time.Duration
	}{
		{name: "nats unreachable", args: workerArgs("nats://127.0.0.1:1", endpoint, "f", "", "--nats-connect-timeout", "2s"),
			want: []string{"nats://127.0.0.1:1"}, within: 10 * time.Second},
		{name: "http address in use", args: workerArgs(w.NATSURL(), endpoint, "f", busyAddr),
			want: []string{busyAddr}, within: 10 * time.Second},
		{name: "nats port in use", args: append(workerArgs("", endpoint, "f", ""), "--nats-port", busyPort, "--data-dir", t.TempDir()),
			want: []string{busyPort, "address already in use"}, within: 5 * time.Second},
		{name: "plain http endpoint without --ecs-insecure",
			args: []string{"run", "--nats-url", w.NATSURL(), "--policy", testPolicies, "--ecs-endpoint", "http://" + endpoint, "--http-addr", ""},
			want: []string{"http://" + endpoint}, within: 10 * time.Second},
		{name: "takeover-after differs from the consumers'", args: workerArgs(w.NATSURL(), endpoint, "f", "", "--takeover-after", "9s"),
			want: []string{"consumer", "COPYGUARD_TRIGGERS/triggers", "ack_wait", "5s", "9s", "--update-topology"}, within: 15 * time.Second},
		{name: "event-max-age differs from the stream's", args: workerArgs(w.NATSURL(), endpoint, "f", "", "--event-max-age", "1h"),
			want: []string{"stream", "COPYGUARD_EVENTS", "max_age", "1h0m0s", "--update-topology"}, within: 15 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			p := startProc(t, runEnv, tt.args...)
			code, took := p.exited(t, start, tt.within)
			out := p.out.String()
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			last := lastLine(out)
			for _, s := range tt.want {
				if !strings.Contains(last, s) {
					t.Errorf("last line lacks %q: %s", s, last)
				}
			}
			if !strings.HasPrefix(last, "copyguard: ") {
				t.Errorf("last line is not copyguard's error line: %s", last)
			}
			for _, bad := range []string{"panic:", "goroutine "} {
				if strings.Contains(out, bad) {
					t.Errorf("output holds %q:\n%s", bad, out)
				}
			}
			t.Logf("exit %d after %v: %s", code, took.Round(10*time.Millisecond), last)
		})
	}

	// --update-topology applies the new setting, says so, and starts.
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProc(t, runEnv, workerArgs(w.NATSURL(), endpoint, "updater", addr, "--takeover-after", "9s", "--update-topology")...)
	waitReady(t, p, addr, 60*time.Second)
	if !regexp.MustCompile(`consumer COPYGUARD_\w+/\w+ updated: ack_wait 5s -> 9s`).MatchString(p.out.String()) {
		t.Errorf("no log line says what --update-topology changed:\n%s", p.out.String())
	}
	if err := p.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestStartTogether: three workers with --replicas 3 started at the same
// instant against a fresh 3-node cluster all become ready, five times
// over (the crash users saw: concurrent creation of R3 streams and
// buckets timing out, nats.md §10.12).
func TestStartTogether(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprintf("round %d", round+1), func(t *testing.T) {
			c := natstest.StartCluster(t, 3)
			start := time.Now()
			var procs []*proc
			var addrs []string
			for i := range 3 {
				addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
				// No regions: no calls to the endpoint, so none is needed.
				procs = append(procs, startProc(t, runEnv, workerArgs(c.URL(), "127.0.0.1:1", fmt.Sprintf("w%d", i+1), addr, "--replicas", "3")...))
				addrs = append(addrs, addr)
			}
			for i, p := range procs {
				waitReady(t, p, addrs[i], 90*time.Second)
			}
			t.Logf("3 workers ready after %v", time.Since(start).Round(10*time.Millisecond))
		})
	}
}

// fleetCopies seeds n in-flight copies tagged cost-center=cc over regions
// into the simulator and announces them with copy.started, then waits
// until the inventory holds them. It returns "region/id" keys.
func fleetCopies(t *testing.T, w *world.World, n int, regions []string, cc string) []string {
	t.Helper()
	var keys []string
	for i := range n {
		region := regions[i%len(regions)]
		id := w.Sim().AddImage(ecssim.Image{ID: fmt.Sprintf("m-fleet%05d", i), Region: region, IsCopied: true, SourceRegion: "cn-hangzhou",
			SourceImageID: "m-src00001", Tags: map[string]string{"cost-center": cc}, CopyTime: time.Hour})
		keys = append(keys, region+"/"+id)
		publishEvent(t, w, w.Names().CopySubject("started"), "copy.started", "started-"+id, map[string]any{
			"image_id": id, "region": region, "source_region": "cn-hangzhou", "tags": map[string]string{"cost-center": cc}})
	}
	inv, err := w.JetStream().KeyValue(t.Context(), w.Names().InventoryBucket)
	if err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "the inventory", 60*time.Second, func() bool {
		st, err := inv.Status(t.Context())
		return err == nil && st.Values() == uint64(n)
	})
	return keys
}

// fleetWorld is a world (the simulator with runEnv's key behind a
// CallLog) on natsURL, or on its own NATS when natsURL is empty.
func fleetWorld(t *testing.T, natsURL string) (*world.World, *world.CallLog) {
	t.Helper()
	var calls *world.CallLog
	w, err := world.New(world.Config{Sim: ecssim.Config{Keys: map[string]string{"run-key": "run-secret"}}, StoreDir: t.TempDir(), NATSURL: natsURL,
		WrapSim: func(h http.Handler) http.Handler { calls = world.NewCallLog(h); return calls }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w, calls
}

// startFleet starts n workers with extra flags and waits until each is
// ready.
func startFleet(t *testing.T, n int, natsURL, endpoint string, extra ...string) []*proc {
	t.Helper()
	var procs []*proc
	var addrs []string
	for i := range n {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		procs = append(procs, startProc(t, runEnv, workerArgs(natsURL, endpoint, fmt.Sprintf("w%d", i+1), addr, extra...)...))
		addrs = append(addrs, addr)
	}
	for i, p := range procs {
		waitReady(t, p, addrs[i], 90*time.Second)
	}
	return procs
}

// cancelled counts the copies (region/id keys) gone from the simulator.
func cancelled(w *world.World, keys []string) int {
	n := 0
	for _, k := range keys {
		region, id, _ := strings.Cut(k, "/")
		if _, ok := w.Sim().Image(region, id); !ok {
			n++
		}
	}
	return n
}

// TestFleetLostNodeAndWorker: three workers on a 3-node cluster (R3) cancel
// 300 copies in three regions for one trigger at 10 calls/s per region.
// Mid fan-out one worker is killed with SIGKILL and the node that leads
// the jobs stream is stopped. Every copy is cancelled with exactly one
// result; a copy is called twice only if its first call was made around
// the faults, when its outcome could be unknown; and once the jobs stream
// has a new leader, no two consecutive cancel calls are more than 8 s
// apart (the dead worker's jobs come back after --takeover-after 5s, not
// after a long ack wait).
func TestFleetLostNodeAndWorker(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	w, calls := fleetWorld(t, c.URL())
	procs := startFleet(t, 3, c.URL(), w.SimAddr(), "--replicas", "3", "--qps", "10")

	regions := []string{"cn-shanghai", "cn-beijing", "cn-shenzhen"}
	const n = 300
	keys := fleetCopies(t, w, n, regions, "fleet")
	publishEvent(t, w, w.Names().TriggerSubject("budget.exceeded"), "budget.exceeded", "fleet-budget", map[string]any{
		"budget": "b", "percent": 150.0, "scope": map[string]any{"tags": map[string]any{"cost-center": "fleet"}}})
	natstest.WaitFor(t, "a quarter of the cancels", 60*time.Second, func() bool { return len(calls.Calls("CancelCopyImage")) >= n/4 })

	js := w.JetStream()
	leader := c.StreamLeader(t.Context(), js, w.Names().JobStream)
	if leader < 0 {
		t.Fatal("the jobs stream has no leader")
	}
	faultAt := time.Now()
	if err := procs[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.StopNode(leader)
	<-procs[0].done
	atFault := len(calls.Calls("CancelCopyImage"))
	var newLeaderAt time.Time
	natstest.WaitFor(t, "a new leader of the jobs stream", 30*time.Second, func() bool {
		i := c.StreamLeader(t.Context(), js, w.Names().JobStream)
		newLeaderAt = time.Now()
		return i >= 0 && i != leader
	})
	t.Logf("fault after %d calls; jobs stream leader %s stopped; new leader after %v", atFault, c.Nodes[leader].Name, newLeaderAt.Sub(faultAt).Round(10*time.Millisecond))
	if atFault >= n {
		t.Fatal("the fan-out was over before the faults; the test proves nothing")
	}

	natstest.WaitFor(t, "every copy cancelled", 120*time.Second, func() bool {
		procs[1].alive(t)
		procs[2].alive(t)
		return cancelled(w, keys) == n
	})
	results := collectResults(t, js, w.Names())
	natstest.WaitFor(t, "a result for every copy", 30*time.Second, func() bool { return results.count() >= n })
	// Once every job is acked (the work queue is empty and nothing is
	// delivered unacked), nothing can be redelivered to publish a second
	// result; until then a duplicate could still come.
	natstest.WaitFor(t, "every job acked", 30*time.Second, func() bool {
		s, err := js.Stream(t.Context(), w.Names().JobStream)
		if err != nil {
			return false
		}
		info, err := s.Info(t.Context())
		return err == nil && info.State.Msgs == 0
	})
	if got := results.count(); got != n {
		t.Errorf("%d results for %d copies", got, n)
	}

	// Calls per copy: one, or two when the first was made around the
	// faults (the dead worker's, or one whose claim could not be saved
	// while a bucket had no leader); the second then finds NotFound.
	doubt := [2]time.Time{faultAt.Add(-2 * time.Second), newLeaderAt.Add(2 * time.Second)}
	first := map[string]time.Time{}
	all := calls.Calls("CancelCopyImage")
	for _, cl := range all {
		k := cl.Region + "/" + cl.ImageID
		if _, ok := first[k]; !ok {
			first[k] = cl.At
		}
	}
	twice := 0
	for _, k := range keys {
		region, id, _ := strings.Cut(k, "/")
		if rs := results.get(k); len(rs) != 1 || rs[0].Outcome != "cancelled" {
			t.Errorf("%s: results %+v", k, rs)
		}
		switch calls := w.Sim().Calls("CancelCopyImage", id); calls {
		case 1:
		case 2:
			twice++
			if at := first[k]; at.Before(doubt[0]) || at.After(doubt[1]) {
				t.Errorf("%s in %s called twice, the first time at %v after the faults, outside the window of doubt", id, region, at.Sub(faultAt).Round(time.Millisecond))
			}
		default:
			t.Errorf("%s in %s: %d calls", id, region, calls)
		}
	}

	// Gaps between consecutive calls, once the stream has a leader again.
	var gap time.Duration
	var gapAt time.Time
	prev := newLeaderAt
	for _, cl := range all {
		if cl.At.Before(newLeaderAt) {
			continue
		}
		if d := cl.At.Sub(prev); d > gap {
			gap, gapAt = d, prev
		}
		prev = cl.At
	}
	if gap > 8*time.Second {
		t.Errorf("no cancel call for %v from %v after the faults", gap.Round(time.Millisecond), gapAt.Sub(faultAt).Round(time.Millisecond))
	}
	t.Logf("%d calls, %d copies called twice; longest gap after the new leader %v; last call %v after the faults",
		len(all), twice, gap.Round(time.Millisecond), all[len(all)-1].At.Sub(faultAt).Round(time.Millisecond))
}

// TestFleetBudget: three workers with --qps 20 share one budget per
// region: the simulator, throttling CancelCopyImage above 20 calls/s per
// region, receives at most 1.3 × 20 calls in any one-second window of a
// region, and throttles under 10 % of them.
func TestFleetBudget(t *testing.T) {
	const q = 20
	w, calls := fleetWorld(t, "")
	startFleet(t, 3, w.NATSURL(), w.SimAddr(), "--qps", strconv.Itoa(q))
	regions := []string{"cn-shanghai", "cn-beijing"}
	const n = 240
	keys := fleetCopies(t, w, n, regions, "budget")
	// From now on, as an API that was idle: the buckets start full.
	w.Sim().SetFaults(ecssim.Faults{ThrottleQPS: q})
	start := time.Now()
	publishEvent(t, w, w.Names().TriggerSubject("budget.exceeded"), "budget.exceeded", "budget-fleet", map[string]any{
		"budget": "b", "percent": 150.0, "scope": map[string]any{"tags": map[string]any{"cost-center": "budget"}}})
	natstest.WaitFor(t, "every copy cancelled", 90*time.Second, func() bool { return cancelled(w, keys) == n })
	took := time.Since(start)

	all := calls.Calls("CancelCopyImage")
	byRegion := map[string][]time.Time{}
	throttled := 0
	for _, c := range all {
		byRegion[c.Region] = append(byRegion[c.Region], c.At)
		if c.Throttled {
			throttled++
		}
	}
	for _, r := range regions {
		at := byRegion[r]
		slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
		// The busiest one-second window starting at any call.
		most, from := 0, time.Time{}
		for i, t0 := range at {
			j, _ := slices.BinarySearchFunc(at, t0.Add(time.Second), func(a, b time.Time) int { return a.Compare(b) })
			if j-i > most {
				most, from = j-i, t0
			}
		}
		if most > 1.3*q {
			t.Errorf("%s: %d calls in the second from %v, want at most %v", r, most, from.Sub(start).Round(time.Millisecond), 1.3*q)
		}
		t.Logf("%s: %d calls, at most %d in one second", r, len(at), most)
	}
	share := float64(throttled) / float64(len(all))
	if share >= 0.10 {
		t.Errorf("%d of %d calls throttled (%.1f %%), want under 10 %%", throttled, len(all), 100*share)
	}
	t.Logf("%d copies in %d regions at %d/s: all cancelled after %v (%.2f × N/Q per region); %d of %d calls throttled",
		n, len(regions), q, took.Round(10*time.Millisecond), took.Seconds()/(float64(n)/float64(len(regions))/q), throttled, len(all))
}

// TestStopWhileStarting: SIGTERM while run still waits for NATS stops it
// promptly, with exit status 0 (a requested stop is no failure) and no
// panic, instead of waiting out --nats-connect-timeout.
func TestStopWhileStarting(t *testing.T) {
	w := startWorld(t)
	p := startProc(t, runEnv, workerArgs("nats://127.0.0.1:1", w.SimAddr(), "stopped", "", "--nats-connect-timeout", "5m")...)
	natstest.WaitFor(t, "a failed connect attempt in the log", 20*time.Second, func() bool {
		return strings.Contains(p.out.String(), "nats not reachable yet")
	})
	start := time.Now()
	if err := p.stop(t); err != nil {
		t.Errorf("SIGTERM while starting: %v, want exit status 0\n%s", err, p.out.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopped after %v", d)
	}
	if out := p.out.String(); strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
		t.Errorf("output has a panic:\n%s", out)
	}
}
