package app_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/internal/natstest"
)

// TestMaxRateAcrossReplicas: max_rate "10/1m" allows 10 cancels in the
// window for the whole fleet: of 11 one-copy triggers shared by two
// replicas, 10 copies are cancelled and one is held, naming the cap.
func TestMaxRateAcrossReplicas(t *testing.T) {
	e := newEnv(t)
	dir, err := e.w.WritePolicies(map[string]string{"rated.yaml": `
policies:
  - name: rated
    on: [rate.one]
    match: copy.image_id == trigger.data.image_id
    action: cancel
    max_rate: "10/1m"
`})
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := e.config("w1"), e.config("w2")
	c1.PolicyPaths, c2.PolicyPaths = []string{dir}, []string{dir}
	a, b := e.start(c1), e.start(c2)
	var ids []string
	for range 11 {
		ids = append(ids, e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-r"}))
	}
	e.waitInventory(a, 11)
	e.waitInventory(b, 11)
	for i, id := range ids {
		e.trigger("rate.one", fmt.Sprintf("r-%d", i), map[string]any{"image_id": id})
	}
	cancelled, held := 0, 0
	for _, id := range ids {
		r := e.waitResult("cn-shanghai", id)
		switch {
		case r.Outcome == "cancelled" && r.Final:
			cancelled++
		case r.Outcome == "held" && r.Final && r.Reason == `held: max_rate 10/1m of policy "rated" reached`:
			held++
			if n := e.sim.Calls("CancelCopyImage", id); n != 0 {
				t.Errorf("held copy %s called %d times", id, n)
			}
		default:
			t.Errorf("%s: %+v", id, r)
		}
	}
	if cancelled != 10 || held != 1 {
		t.Errorf("cancelled %d held %d, want 10 and 1", cancelled, held)
	}
	instances := map[string]bool{}
	for i := range ids {
		instances[e.waitDecision(fmt.Sprintf("r-%d", i)).Instance] = true
	}
	t.Logf("decided by %v", instances)
}

// TestCircuitBreaker: the key is revoked mid-flight. After
// --breaker-threshold credential errors the fleet stops calling the
// region, holds its cancels (final false) and is not ready; restoring the
// key closes the circuit through the probe, and every held copy is then
// cancelled, each with exactly one final result.
func TestCircuitBreaker(t *testing.T) {
	e := newEnv(t)
	c := e.config("w1")
	c.Regions = []string{"cn-shanghai"}
	c.BreakerThreshold, c.BreakerProbe = 3, 300*time.Millisecond
	a := e.start(c)
	var ids []string
	for range 5 {
		ids = append(ids, e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-k"}))
	}
	e.waitInventory(a, 5)
	natstest.WaitFor(t, "ready", 20*time.Second, func() bool { return a.Ready() == nil })

	keyID, secret := e.w.AccessKey()
	e.sim.RemoveKey(keyID)
	e.trigger("budget.exceeded", "k-1", budget("team-k", 150))
	if d := e.waitDecision("k-1"); len(d.Cancel) != 5 {
		t.Fatalf("decision cancel %v", d.Cancel)
	}
	heldAll := func() bool {
		for _, id := range ids {
			rs := e.result("cn-shanghai", id)
			if len(rs) == 0 {
				return false
			}
		}
		return true
	}
	natstest.WaitFor(t, "every copy held while the circuit is open", 30*time.Second, heldAll)
	for _, id := range ids {
		r := e.result("cn-shanghai", id)[0]
		if r.Outcome != "held" || r.Final || r.Reason != "circuit open: InvalidAccessKeyId.NotFound" {
			t.Errorf("%s: first result %+v, want held, not final, circuit open", id, r)
		}
	}
	err := a.Ready()
	if err == nil || !strings.Contains(err.Error(), "cn-shanghai: circuit open: InvalidAccessKeyId.NotFound") {
		t.Errorf("ready = %v, want the open circuit", err)
	}
	if open, code := a.Worker.CircuitOpen("cn-shanghai"); !open || code != "InvalidAccessKeyId.NotFound" {
		t.Errorf("circuit open %v %q", open, code)
	}
	// While open: probes (DescribeImages) go on, cancels stop.
	cancels, probes := e.sim.Received("CancelCopyImage"), e.sim.Received("DescribeImages")
	if cancels < 3 || cancels > 5 {
		t.Errorf("CancelCopyImage calls before the circuit opened = %d, want 3 to 5", cancels)
	}
	natstest.WaitFor(t, "three probes", 10*time.Second, func() bool { return e.sim.Received("DescribeImages") >= probes+3 })
	if n := e.sim.Received("CancelCopyImage"); n != cancels {
		t.Errorf("CancelCopyImage calls while open: %d", n-cancels)
	}

	e.sim.SetKey(keyID, secret)
	final := func(id string) []event.Result {
		var out []event.Result
		for _, r := range e.result("cn-shanghai", id) {
			if r.Final {
				out = append(out, r)
			}
		}
		return out
	}
	natstest.WaitFor(t, "every held copy cancelled", 30*time.Second, func() bool {
		for _, id := range ids {
			if len(final(id)) == 0 {
				return false
			}
		}
		return true
	})
	natstest.WaitFor(t, "ready again", 10*time.Second, func() bool { return a.Ready() == nil })
	for _, id := range ids {
		if f := final(id); len(f) != 1 || f[0].Outcome != "cancelled" {
			t.Errorf("%s: final results %+v, want exactly one cancelled", id, f)
		}
		if n := e.sim.Calls("CancelCopyImage", id); n != 1 {
			t.Errorf("%s: %d CancelCopyImage calls with a valid key, want 1", id, n)
		}
	}
}

// TestStartupCloudCheck: a bad key is reported at start, per region, in
// the log and in readiness, without stopping the worker; no --regions is
// warned about.
func TestStartupCloudCheck(t *testing.T) {
	e := newEnv(t)
	core, logs := observer.New(zap.WarnLevel)
	c := e.config("w1")
	c.Regions = []string{"cn-shanghai", "eu-central-1"}
	c.ECSAccessKeySecret = "not-the-secret"
	a, err := e.w.StartApp(context.Background(), c, zap.New(core), nil)
	if err != nil {
		t.Fatalf("start with a bad key: %v, want started", err)
	}
	t.Cleanup(a.Stop)
	for _, region := range c.Regions {
		want := "cloud access in " + region + ": probe " + region + ": SignatureDoesNotMatch"
		if n := logs.FilterMessageSnippet(want).Len(); n != 1 {
			t.Errorf("log lines %q: %d, want 1; logs %v", want, n, logs.All())
		}
	}
	// The probe's error, or the first listing's if it came since: both
	// name the region and the code.
	if err := a.Ready(); err == nil || !regexp.MustCompile(`cloud: cn-shanghai: [a-z ]+cn-shanghai: .*SignatureDoesNotMatch`).MatchString(err.Error()) {
		t.Errorf("ready = %v, want the region and the code", err)
	}

	core2, logs2 := observer.New(zap.WarnLevel)
	c2 := e.config("w2")
	b, err := e.w.StartApp(context.Background(), c2, zap.New(core2), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	if n := logs2.FilterMessage("no --regions: copies are known only from copy.started events").Len(); n != 1 {
		t.Errorf("no-regions warning logged %d times", n)
	}
}
