package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/internal/natstest"
)

// TestTwoWorkersShareWork: two replicas on one NATS share a large fan-out;
// every copy gets exactly one call and one result.
func TestTwoWorkersShareWork(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFaults(ecssim.Faults{Latency: 5 * time.Millisecond})
	a1 := e.start(e.config("w1"))
	a2 := e.start(e.config("w2"))
	regions := []string{"cn-shanghai", "eu-central-1", "us-west-1"}
	var ids []string
	for i := range 150 {
		ids = append(ids, e.seed(copyOpts{region: regions[i%3], costCenter: "big"}))
	}
	e.waitInventory(a1, 150)
	e.waitInventory(a2, 150)
	e.trigger("budget.exceeded", "big-1", budget("big", 200))
	// The same overrun reported twice under another id, decided by
	// whichever replica gets it: the claims keep it to one result per copy.
	e.trigger("budget.exceeded", "big-2", budget("big", 201))
	by := map[string]int{}
	for i, id := range ids {
		r := e.waitResult(regions[i%3], id)
		by[r.Instance]++
		if r.Outcome != "cancelled" {
			t.Errorf("%s: %s", id, r.Outcome)
		}
	}
	d1, d2 := e.waitDecision("big-1"), e.waitDecision("big-2")
	// Whatever the second decision saw (copies still claimed, or already
	// gone from the inventory), together they cancel each copy once.
	if len(d1.Cancel)+len(d2.Cancel) != 150 {
		t.Errorf("decisions: cancel %d+%d, want 150 in all (already decided: %d+%d)", len(d1.Cancel), len(d2.Cancel), len(d1.AlreadyDecided), len(d2.AlreadyDecided))
	}
	for i, id := range ids {
		if n := len(e.result(regions[i%3], id)); n != 1 {
			t.Errorf("%s: %d results", id, n)
		}
		if n := e.sim.Calls("CancelCopyImage", id); n != 1 {
			t.Errorf("%s: %d calls", id, n)
		}
	}
	if by["w1"] == 0 || by["w2"] == 0 {
		t.Errorf("the work was not shared: %v", by)
	}
	t.Logf("results by replica: %v", by)
}

// TestRestartFinishesWork: a worker stopped in the middle of a fan-out
// hands its work back; a new worker on the same store finishes it, with
// one call and one result per copy.
func TestRestartFinishesWork(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFaults(ecssim.Faults{Latency: 20 * time.Millisecond})
	c := e.config("first")
	c.QPS, c.Burst = 20, 1
	c.ShutdownTimeout = 100 * time.Millisecond
	a := e.start(c)
	var ids []string
	for range 60 {
		ids = append(ids, e.seed(copyOpts{region: "cn-shanghai", costCenter: "r"}))
	}
	e.waitInventory(a, 60)
	e.trigger("budget.exceeded", "r-1", budget("r", 100))
	natstest.WaitFor(e.t, "some results", 20*time.Second, func() bool {
		n := 0
		for _, id := range ids {
			n += len(e.result("cn-shanghai", id))
		}
		return n >= 5
	})
	a.Stop()
	stoppedAt := e.sim.TotalCalls("CancelCopyImage")
	if stoppedAt >= 60 {
		t.Fatalf("the first worker finished everything (%d calls) before it was stopped; the test proves nothing", stoppedAt)
	}
	c2 := e.config("second")
	e.start(c2)
	for _, id := range ids {
		r := e.waitResult("cn-shanghai", id)
		if r.Outcome != "cancelled" {
			t.Errorf("%s: %+v", id, r)
		}
	}
	for _, id := range ids {
		if n := len(e.result("cn-shanghai", id)); n != 1 {
			t.Errorf("%s: %d results", id, n)
		}
		if n := e.sim.Calls("CancelCopyImage", id); n != 1 {
			t.Errorf("%s: %d calls", id, n)
		}
	}
	t.Logf("first worker made %d of 60 calls before it stopped", stoppedAt)
}

// TestNATSRestart: the worker survives its NATS server going away and
// coming back on the same store, and acts on a trigger sent afterwards.
func TestNATSRestart(t *testing.T) {
	e := newEnv(t)
	a := e.start(e.config("w1"))
	id := e.seed(copyOpts{region: "cn-shanghai", costCenter: "n"})
	e.waitInventory(a, 1)
	e.w.StopNATS()
	natstest.WaitFor(e.t, "the worker to notice", 10*time.Second, func() bool { return a.Ready() != nil })
	if err := e.w.StartNATS(); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(e.t, "the worker to reconnect", 20*time.Second, func() bool { return a.Ready() == nil })
	natstest.WaitFor(e.t, "the test client to reconnect", 20*time.Second, func() bool { return e.nc.IsConnected() })
	e.trigger("cancel.requested", "after-restart", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": fmt.Sprint("restart")})
	if r := e.waitResult("cn-shanghai", id); r.Outcome != "cancelled" {
		t.Errorf("after restart: %+v", r)
	}
}
