package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/internal/world"
)

// recheckPolicies stop a cost center's copies under 90 %, let an operator
// cancel one copy, and protect golden images by tag.
const recheckPolicies = `policies:
  - name: budget-progress
    on: [budget.exceeded]
    match: copy.tags["cost-center"] == trigger.data.scope.tags["cost-center"] && copy.progress < 90
    action: cancel
  - name: operator
    on: [cancel.requested]
    match: copy.image_id == trigger.data.image_id && copy.region == trigger.data.region
    action: cancel
  - name: golden
    on: ["*"]
    match: '"protect" in copy.tags && copy.tags["protect"] == "true"'
    action: protect
`

// recheckEnv starts a worker that re-checks every observation older than
// a millisecond.
func recheckEnv(t *testing.T) (*env, func(n int)) {
	e := newEnv(t)
	dir, err := e.w.WritePolicies(map[string]string{"p.yaml": recheckPolicies})
	if err != nil {
		t.Fatal(err)
	}
	c := e.config("w1")
	c.PolicyPaths = []string{dir}
	c.RecheckAfter = time.Millisecond
	a := e.start(c)
	return e, func(n int) { e.waitInventory(a, n) }
}

// seedImage adds img to the simulator and announces it with copy.started
// carrying tags (which may differ from the image's own).
func (e *env) seedImage(img ecssim.Image, tags map[string]string) string {
	e.t.Helper()
	id := e.sim.AddImage(img)
	e.publish(e.names.CopySubject("started"), "copy.started", "started-"+id, map[string]any{
		"image_id": id, "region": img.Region, "source_image_id": "m-source0001", "source_region": "cn-hangzhou",
		"tags": tags, "size_gb": 20, "started_at": time.Now().UTC().Format(time.RFC3339),
	})
	return id
}

// TestRecheckSettlesWithoutCalls: copies whose state moved on since the
// inventory saw them are settled by the re-read, with no CancelCopyImage
// call: one passed 90 % (skipped), one finished (completed), one failed
// (not_cancellable); a copy still under 90 % is cancelled.
func TestRecheckSettlesWithoutCalls(t *testing.T) {
	e, waitInventory := recheckEnv(t)
	team := map[string]string{"cost-center": "team-r"}
	now := time.Now()
	// Waiting 1m, then Creating for 1h: created 58m ago is 95 % done.
	passed := e.seedImage(ecssim.Image{Region: "cn-shanghai", IsCopied: true, Tags: team,
		Created: now.Add(-58 * time.Minute), WaitFor: time.Minute, CopyTime: time.Hour}, team)
	finished := e.seedImage(ecssim.Image{Region: "cn-shanghai", IsCopied: true, Tags: team, Status: "Available"}, team)
	failed := e.seedImage(ecssim.Image{Region: "cn-shanghai", IsCopied: true, Tags: team, Status: "CreateFailed", Progress: 50}, team)
	young := e.seedImage(ecssim.Image{Region: "cn-shanghai", IsCopied: true, Tags: team,
		Created: now, WaitFor: time.Minute, CopyTime: time.Hour}, team)
	waitInventory(4)
	time.Sleep(5 * time.Millisecond) // older than --recheck-after

	e.trigger("budget.exceeded", "r-1", budget("team-r", 120))
	d := e.waitDecision("r-1")
	if len(d.Cancel) != 4 {
		t.Fatalf("decision cancel = %v, want all 4 (the inventory says 0 %%)", d.Cancel)
	}
	for _, c := range d.Cancel {
		if c.Status != "Waiting" || c.Progress == nil || *c.Progress != 0 || c.Tags["cost-center"] != "team-r" || c.ObservedAt.IsZero() {
			t.Errorf("decided copy %+v: want the copy as seen (Waiting, 0 %%, tags, observed_at)", c)
		}
	}
	for _, tt := range []struct {
		id, outcome, reason string
	}{
		{passed, "skipped", "no longer matches budget-progress"},
		{finished, "completed", "the copy is Available"},
		{failed, "not_cancellable", "the copy is CreateFailed"},
		{young, "cancelled", ""},
	} {
		r := e.waitResult("cn-shanghai", tt.id)
		if r.Outcome != tt.outcome || !strings.Contains(r.Reason, tt.reason) {
			t.Errorf("%s: result %s %q, want %s %q", tt.id, r.Outcome, r.Reason, tt.outcome, tt.reason)
		}
		calls := 0
		if tt.outcome == "cancelled" {
			calls = 1
		}
		if n := e.sim.Calls("CancelCopyImage", tt.id); n != calls {
			t.Errorf("%s: %d CancelCopyImage calls, want %d", tt.id, n, calls)
		}
		if n := e.sim.Calls("DescribeImages", tt.id); n < 1 {
			t.Errorf("%s: not re-read with DescribeImages", tt.id)
		}
	}
	if r := e.result("cn-shanghai", passed)[0]; !strings.Contains(r.Reason, "Creating, 95%") {
		t.Errorf("skipped reason %q does not say what the re-read saw", r.Reason)
	}
	// The four re-reads of one region shared calls.
	if n := e.sim.TotalCalls("DescribeImages"); n > 2 {
		t.Errorf("%d DescribeImages calls for 4 copies of one region, want them batched", n)
	}
}

// TestRecheckProtectsByCloudTags: a copy.started that left out the
// protect tag does not let an operator cancel a copy the cloud's tags
// protect.
func TestRecheckProtectsByCloudTags(t *testing.T) {
	e, waitInventory := recheckEnv(t)
	id := e.seedImage(ecssim.Image{Region: "cn-shanghai", IsCopied: true, Tags: map[string]string{"protect": "true"},
		WaitFor: time.Hour, CopyTime: time.Hour}, map[string]string{"team": "x"})
	waitInventory(1)
	time.Sleep(5 * time.Millisecond)
	e.trigger("cancel.requested", "op-1", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": "test"})
	if d := e.waitDecision("op-1"); len(d.Cancel) != 1 {
		t.Fatalf("decision cancel = %v, want the copy (the event's tags do not protect it)", d.Cancel)
	}
	r := e.waitResult("cn-shanghai", id)
	if r.Outcome != "protected" || len(r.Policies) != 1 || r.Policies[0] != "golden" || !strings.Contains(r.Reason, "tags from DescribeImages") {
		t.Errorf("result %+v, want protected by golden", r)
	}
	if n := e.sim.Calls("CancelCopyImage", id); n != 0 {
		t.Errorf("%d CancelCopyImage calls on a protected copy", n)
	}
	// The cloud's tags are now in the inventory: the next request is
	// vetoed at once.
	e.trigger("cancel.requested", "op-2", map[string]any{"image_id": id, "region": "cn-shanghai", "reason": "again"})
	if d := e.waitDecision("op-2"); len(d.Protected) != 1 || d.Protected[0].Tags["protect"] != "true" {
		t.Errorf("second decision protected = %+v, want the copy with the cloud's tags", d.Protected)
	}
	if n := e.sim.Calls("CancelCopyImage", id); n != 0 {
		t.Errorf("%d CancelCopyImage calls on a protected copy", n)
	}
}

// TestReusedTriggerIDRejected: an event that reuses a trigger's id for
// other content is rejected and acts on nothing; the same event again is
// a redelivery.
func TestReusedTriggerIDRejected(t *testing.T) {
	e := newEnv(t)
	a := e.start(e.config("w1"))
	idA := e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-a"})
	idB := e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-b"})
	e.waitInventory(a, 2)

	send := func(msgID string, data map[string]any) {
		m, err := world.EventMsg(e.names.TriggerSubject("budget.exceeded"), "budget.exceeded", "test", "dup-1", data)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Set(jetstream.MsgIDHeader, msgID) // past the stream's dedup: a producer reusing ids
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := e.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	send("first", budget("team-a", 120))
	if r := e.waitResult("cn-shanghai", idA); r.Outcome != "cancelled" {
		t.Fatalf("team-a: %+v", r)
	}
	send("second", budget("team-b", 120))
	natstest.WaitFor(t, "the reused id rejected", 30*time.Second, func() bool { e.mu.Lock(); defer e.mu.Unlock(); return len(e.rejected) > 0 })
	e.mu.Lock()
	rej := e.rejected[0]
	e.mu.Unlock()
	want := `id "dup-1" from source "test" was already used for a different event (first seen at `
	if !strings.Contains(rej.Reason, want) || rej.Field != "id" {
		t.Errorf("rejection %q (field %q), want %q", rej.Reason, rej.Field, want)
	}
	if n := e.sim.Calls("CancelCopyImage", idB); n != 0 || len(e.result("cn-shanghai", idB)) != 0 {
		t.Errorf("team-b's copy was acted on for a rejected trigger: %d calls", n)
	}
}

// TestTraceparentCarried: a trigger's traceparent arrives on its decision
// and its results; an invalid one is dropped.
func TestTraceparentCarried(t *testing.T) {
	e := newEnv(t)
	a := e.start(e.config("w1"))
	id := e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-t"})
	golden := e.seed(copyOpts{region: "cn-shanghai", costCenter: "team-t", protect: true})
	e.waitInventory(a, 2)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tt := range []struct{ trigger, header string }{{"tp-1", tp}, {"tp-bad", "00-xyz"}} {
		m, err := world.EventMsg(e.names.TriggerSubject("cancel.requested"), "cancel.requested", "test", tt.trigger,
			map[string]any{"image_id": "m-none0001", "region": "cn-shanghai", "reason": "trace"})
		if tt.trigger == "tp-1" {
			m, err = world.EventMsg(e.names.TriggerSubject("budget.exceeded"), "budget.exceeded", "test", tt.trigger, budget("team-t", 120))
		}
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Set("traceparent", tt.header)
		if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	e.waitResult("cn-shanghai", id)
	e.waitResult("cn-shanghai", golden)
	if d := e.waitDecision("tp-bad"); !strings.Contains(d.Note, "no copy m-none0001 in cn-shanghai is known") {
		t.Errorf("note = %q", d.Note)
	}

	headers := map[string]string{} // subject → traceparent
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := e.js.OrderedConsumer(ctx, e.names.EventStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			break
		}
		var who string
		switch {
		case strings.Contains(string(msg.Data()), `"id":"tp-1"`):
			who = "tp-1"
		case strings.Contains(string(msg.Data()), `"id":"tp-bad"`):
			who = "tp-bad"
		default:
			continue
		}
		headers[who+" "+msg.Subject()] = msg.Headers().Get("traceparent")
	}
	for _, k := range []string{"tp-1 copyguard.decision", "tp-1 copyguard.result.cancelled", "tp-1 copyguard.result.protected"} {
		if got, ok := headers[k]; !ok || got != tp {
			t.Errorf("%s: traceparent %q (present %v), want %q", k, got, ok, tp)
		}
	}
	if got, ok := headers["tp-bad copyguard.decision"]; !ok || got != "" {
		t.Errorf("invalid traceparent passed on: %q (decision seen %v)", got, ok)
	}
}
