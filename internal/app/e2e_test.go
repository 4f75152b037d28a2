package app_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/internal/natstest"
)

func budget(team string, percent float64) map[string]any {
	return map[string]any{"budget": "monthly-" + team, "percent": percent, "limit": 1000, "actual": 10 * percent,
		"currency": "USD", "scope": map[string]any{"tags": map[string]any{"cost-center": team}}}
}

// TestBudgetCancelsOncePerCopy: a budget overrun cancels the cost center's
// copies, each with exactly one CancelCopyImage call and one result; a
// protected copy is vetoed and never called; other teams are untouched.
func TestBudgetCancelsOncePerCopy(t *testing.T) {
	e := newEnv(t)
	a := e.start(e.config("w1"))
	var team []string
	for i := range 6 {
		team = append(team, e.seed(copyOpts{region: []string{"cn-shanghai", "eu-central-1"}[i%2], costCenter: "team-a"}))
	}
	golden := e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-a", protect: true})
	other := e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-b"})
	e.waitInventory(a, 8)

	e.trigger("budget.exceeded", "b-1", budget("team-a", 120))
	d := e.waitDecision("b-1")
	if len(d.Cancel) != 6 || len(d.Protected) != 1 || d.Protected[0].ImageID != golden {
		t.Fatalf("decision: cancel=%v protected=%v", d.Cancel, d.Protected)
	}
	for i, id := range team {
		region := []string{"cn-shanghai", "eu-central-1"}[i%2]
		r := e.waitResult(region, id)
		if r.Outcome != "cancelled" || r.Attempts != 1 || r.RequestID == "" || r.Trigger.ID != "b-1" || r.Policies[0] != "budget" {
			t.Errorf("%s: result %+v", id, r)
		}
		if n := e.sim.Calls("CancelCopyImage", id); n != 1 {
			t.Errorf("%s: %d CancelCopyImage calls, want 1", id, n)
		}
		if _, ok := e.sim.Image(region, id); ok {
			t.Errorf("%s still exists after cancel", id)
		}
	}
	if r := e.waitResult("cn-shanghai", golden); r.Outcome != "protected" {
		t.Errorf("golden: %+v", r)
	}
	if n := e.sim.Calls("CancelCopyImage", golden) + e.sim.Calls("CancelCopyImage", other); n != 0 {
		t.Errorf("protected or other team's copies were called %d times", n)
	}

	// Decided copies leave the inventory: the same overrun reported again
	// selects nothing and calls nothing.
	e.trigger("budget.exceeded", "b-2", budget("team-a", 130))
	if d2 := e.waitDecision("b-2"); len(d2.Cancel)+len(d2.AlreadyDecided) != 0 {
		t.Errorf("second trigger: cancel=%d already=%d, want 0 and 0", len(d2.Cancel), len(d2.AlreadyDecided))
	}
	for _, id := range team {
		if n := e.sim.Calls("CancelCopyImage", id); n != 1 {
			t.Errorf("%s: %d calls after the second trigger", id, n)
		}
	}
}

// TestAlreadyDecided: a trigger that selects a copy whose cancel another
// trigger has in hand records it as already decided, with no second call
// or result.
func TestAlreadyDecided(t *testing.T) {
	e := newEnv(t)
	a := e.start(e.config("w1"))
	id := e.seed(copyOpts{region: "cn-shanghai", costCenter: "slow"})
	e.waitInventory(a, 1)
	e.sim.Script(id, ecssim.Answer{Delay: time.Second, Pass: true})
	e.trigger("cancel.requested", "first", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": "one"})
	e.waitDecision("first")
	e.trigger("budget.exceeded", "second", budget("slow", 100))
	d := e.waitDecision("second")
	if len(d.AlreadyDecided) != 1 || !strings.Contains(d.AlreadyDecided[0].Reason, "first") {
		t.Fatalf("second decision: %+v", d)
	}
	if r := e.waitResult("cn-shanghai", id); r.Outcome != "cancelled" || r.Trigger.ID != "first" {
		t.Errorf("result: %+v", r)
	}
	e.trigger("cancel.requested", "third", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": "sync"})
	e.waitDecision("third")
	if n, rs := e.sim.Calls("CancelCopyImage", id), e.result("cn-shanghai", id); n != 1 || len(rs) != 1 {
		t.Errorf("%d calls and %d results, want 1 and 1", n, len(rs))
	}
}

// TestOutcomes covers one copy per outcome the API can give.
func TestOutcomes(t *testing.T) {
	e := newEnv(t)
	c := e.config("w1")
	c.MaxAttempts = 3
	a := e.start(c)
	finished := e.seed(copyOpts{region: "cn-beijing", costCenter: "x", status: "Available"})
	failed := e.seed(copyOpts{region: "cn-beijing", costCenter: "x", status: "CreateFailed"})
	gone := e.seed(copyOpts{region: "cn-beijing", costCenter: "x", notInSim: true})
	throttled := e.seed(copyOpts{region: "cn-beijing", costCenter: "x"})
	broken := e.seed(copyOpts{region: "cn-beijing", costCenter: "x"})
	flaky := e.seed(copyOpts{region: "cn-beijing", costCenter: "x"})
	e.waitInventory(a, 6)
	e.sim.Script(throttled, ecssim.Answer{Status: 400, Code: "Throttling.User", Message: "Request was denied due to user flow control."}, ecssim.Answer{Pass: true})
	e.sim.Script(broken, ecssim.Answer{Status: 400, Code: "InvalidParameter", Message: "bad"})
	e.sim.Script(flaky, ecssim.Answer{Status: 503, Code: "ServiceUnavailable"}, ecssim.Answer{Status: 503, Code: "ServiceUnavailable"}, ecssim.Answer{Status: 503, Code: "ServiceUnavailable"})

	e.trigger("budget.exceeded", "o-1", budget("x", 100))
	for _, tt := range []struct {
		name, id, outcome string
		attempts          int
		code              string
	}{
		{"finished before cancel", finished, "completed", 1, "IncorrectImageStatus"},
		{"copy failed", failed, "not_cancellable", 1, "IncorrectImageStatus"},
		{"already gone", gone, "already_gone", 1, "InvalidImageId.NotFound"},
		{"throttled then ok", throttled, "cancelled", 2, ""},
		{"permanent error", broken, "failed", 1, "InvalidParameter"},
		{"retries exhausted", flaky, "failed", 3, "ServiceUnavailable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.waitResult("cn-beijing", tt.id)
			if r.Outcome != tt.outcome || r.Attempts != tt.attempts || r.ErrorCode != tt.code {
				t.Errorf("got outcome=%s attempts=%d code=%q, want %s %d %q (%+v)", r.Outcome, r.Attempts, r.ErrorCode, tt.outcome, tt.attempts, tt.code, r)
			}
			if n := e.sim.Calls("CancelCopyImage", tt.id); n != tt.attempts {
				t.Errorf("%d calls, want %d", n, tt.attempts)
			}
		})
	}
}

// TestLimitsAndDryRun: max_cancels holds the whole policy; a dry-run
// policy and --dry-run plan without calling the API.
func TestLimitsAndDryRun(t *testing.T) {
	e := newEnv(t)
	a := e.start(e.config("w1"))
	var ids []string
	for range 3 {
		ids = append(ids, e.seed(copyOpts{region: "cn-shenzhen", costCenter: "team-c"}))
	}
	e.waitInventory(a, 3)
	e.trigger("budget.small", "s-1", map[string]any{"team": "team-c"})
	if d := e.waitDecision("s-1"); len(d.Held) != 3 || len(d.Cancel) != 0 {
		t.Fatalf("max_cancels 2 with 3 selected: held=%d cancel=%d", len(d.Held), len(d.Cancel))
	}
	e.trigger("budget.audit", "audit-1", map[string]any{"team": "team-c"})
	if d := e.waitDecision("audit-1"); len(d.Planned) != 3 {
		t.Fatalf("dry-run policy: planned=%d", len(d.Planned))
	}
	natstest.WaitFor(e.t, "held and planned results", 10*time.Second, func() bool {
		for _, id := range ids {
			if len(e.result("cn-shenzhen", id)) != 2 {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		rs := e.result("cn-shenzhen", id)
		if rs[0].Outcome != "held" || rs[1].Outcome != "planned" || !rs[1].DryRun {
			t.Errorf("%s: results %+v", id, rs)
		}
		if n := e.sim.Calls("CancelCopyImage", id); n != 0 {
			t.Errorf("%s called %d times", id, n)
		}
	}
	a.Stop()

	// The same world under --dry-run: the budget policy only plans.
	c := e.config("w2")
	c.DryRun = true
	e.start(c)
	e.trigger("budget.exceeded", "dry-1", budget("team-c", 150))
	if d := e.waitDecision("dry-1"); len(d.Planned) != 3 || !d.DryRun || len(d.Cancel) != 0 {
		t.Fatalf("--dry-run: %+v", d)
	}
	if n := e.sim.TotalCalls("CancelCopyImage"); n != 0 {
		t.Errorf("dry run made %d calls", n)
	}
}

// TestRejectedInput: bad input is published to copyguard.rejected with a
// reason, acked, and changes nothing.
func TestRejectedInput(t *testing.T) {
	e := newEnv(t)
	a := e.start(e.config("w1"))
	id := e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-a"})
	e.waitInventory(a, 1)
	for i, body := range []string{
		`{not json`,
		`{"specversion":"0.3","id":"x","source":"s","type":"budget.exceeded","data":{}}`,
		`{"specversion":"1.0","id":"x","source":"s","type":"cancel.requested","data":{"image_id":"m-` + id[2:] + `","region":"NOT A REGION","reason":"r"}}`,
		`{"specversion":"1.0","id":"y","source":"s","type":"region.quarantined","data":{"region":"cn-shanghai","reason":"r"}}`, // type does not match the subject
	} {
		e.publishRaw(e.names.TriggerSubject("budget.exceeded"), fmt.Sprint("bad-", i), []byte(body))
	}
	natstest.WaitFor(e.t, "4 rejections", 10*time.Second, func() bool { e.mu.Lock(); defer e.mu.Unlock(); return len(e.rejected) == 4 })
	e.mu.Lock()
	for _, r := range e.rejected {
		if r.Reason == "" || r.Subject != "copyguard.trigger.budget.exceeded" || r.Original == "" {
			t.Errorf("rejection without reason, subject or original: %+v", r)
		}
	}
	e.mu.Unlock()
	// A good trigger after the bad ones still works: nothing is stuck.
	e.trigger("cancel.requested", "op-1", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": "test"})
	if r := e.waitResult("cn-shanghai", id); r.Outcome != "cancelled" {
		t.Errorf("after rejections: %+v", r)
	}
	if n := e.sim.TotalCalls("CancelCopyImage"); n != 1 {
		t.Errorf("%d cancel calls, want 1", n)
	}
}

// TestQuarantineCondition: a quarantine cancels copies in flight and those
// that start later, until it is released.
func TestQuarantineCondition(t *testing.T) {
	e := newEnv(t)
	a := e.start(e.config("w1"))
	before := e.seed(copyOpts{region: "ap-southeast-1", costCenter: "a"})
	e.waitInventory(a, 1)
	e.trigger("region.quarantined", "q-1", map[string]any{"region": "ap-southeast-1", "reason": "incident", "incident": "INC-1"})
	if r := e.waitResult("ap-southeast-1", before); r.Outcome != "cancelled" {
		t.Fatalf("copy in flight: %+v", r)
	}
	later := e.seed(copyOpts{region: "ap-southeast-1", costCenter: "a"})
	if r := e.waitResult("ap-southeast-1", later); r.Outcome != "cancelled" || r.Trigger.ID != "q-1" {
		t.Fatalf("copy started during the quarantine: %+v", r)
	}
	elsewhere := e.seed(copyOpts{region: "cn-shanghai", costCenter: "a"})
	e.trigger("region.released", "r-1", map[string]any{"region": "ap-southeast-1", "incident": "INC-1"})
	e.waitDecision("r-1")
	after := e.seed(copyOpts{region: "ap-southeast-1", costCenter: "a"})
	e.waitInventory(a, 2)
	// Give a wrongly active condition the chance to act: a later trigger's
	// decision proves the inventory event was handled first (one consumer
	// each, but the inventory is mirrored before triggers are decided).
	e.trigger("cancel.requested", "op-x", map[string]any{"image_id": elsewhere, "region": "cn-shanghai", "reason": "sync"})
	e.waitResult("cn-shanghai", elsewhere)
	if rs := e.result("ap-southeast-1", after); len(rs) != 0 || e.sim.Calls("CancelCopyImage", after) != 0 {
		t.Errorf("copy started after the release was acted on: %+v", rs)
	}
}

// TestPause: while paused every cancel is held; after resume they go ahead.
func TestPause(t *testing.T) {
	e := newEnv(t)
	a := e.start(e.config("w1"))
	id := e.seed(copyOpts{region: "cn-shanghai", costCenter: "p"})
	e.waitInventory(a, 1)
	e.setPause(true)
	natstest.WaitFor(e.t, "the worker to see the pause", 5*time.Second, func() bool { _, p := a.Worker.Paused(); return p })
	e.trigger("cancel.requested", "p-1", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": "x"})
	if r := e.waitResult("cn-shanghai", id); r.Outcome != "held" {
		t.Fatalf("paused: %+v", r)
	}
	e.setPause(false)
	natstest.WaitFor(e.t, "the worker to see the resume", 5*time.Second, func() bool { _, p := a.Worker.Paused(); return !p })
	e.trigger("cancel.requested", "p-2", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": "x"})
	natstest.WaitFor(e.t, "a second result", 10*time.Second, func() bool { return len(e.result("cn-shanghai", id)) == 2 })
	if r := e.result("cn-shanghai", id)[1]; r.Outcome != "cancelled" {
		t.Errorf("after resume: %+v", r)
	}
}

// TestReload: new policies take effect after Reload; a broken file is
// refused and the running set stays.
func TestReload(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	file := dir + "/p.yaml"
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("policies:\n  - {name: none, on: [cancel.requested], match: 'false', action: cancel}\n")
	c := e.config("w1")
	c.PolicyPaths = []string{file}
	a := e.start(c)
	id := e.seed(copyOpts{region: "cn-shanghai", costCenter: "r"})
	e.waitInventory(a, 1)
	before := a.Worker.Policies().Version()

	write("policies:\n  - {name: broken, on: [cancel.requested], match: 'copy.nope', action: cancel}\n")
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "p.yaml:2:") {
		t.Fatalf("a broken file was not refused with its location: %v", err)
	}
	if a.Worker.Policies().Version() != before {
		t.Fatal("a refused reload changed the running policies")
	}
	write("policies:\n  - {name: op, on: [cancel.requested], match: copy.image_id == trigger.data.image_id, action: cancel}\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	e.trigger("cancel.requested", "after-reload", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": "r"})
	if r := e.waitResult("cn-shanghai", id); r.Outcome != "cancelled" || r.Policies[0] != "op" {
		t.Errorf("after reload: %+v", r)
	}
}
