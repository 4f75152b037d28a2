package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/worker"
)

const planPolicies = `
policies:
  - name: budget
    on: [budget.exceeded]
    when: trigger.data.percent >= 100.0
    match: copy.tags["cost-center"] == trigger.data.scope.tags["cost-center"]
    action: cancel
  - name: golden
    on: ["*"]
    match: '"protect" in copy.tags && copy.tags["protect"] == "true"'
    action: protect
`

// planLines runs plan --json and returns its lines by region/image_id.
func planLines(t *testing.T, url, policies, data string) map[string]planLine {
	t.Helper()
	out, errOut, err := cli(t, "plan", "budget.exceeded", "--nats-url", url, "--policy", policies, "--data", data, "--json")
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, errOut)
	}
	lines := map[string]planLine{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var p planLine
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatalf("plan line %q: %v", l, err)
		}
		lines[p.Region+"/"+p.ImageID] = p
	}
	return lines
}

// lastDecision reads the decision of trigger id from the events stream.
func lastDecision(t *testing.T, js jetstream.JetStream, stream, id string) (event.Decision, bool) {
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(t.Context(), "copyguard.decision")
	if err != nil {
		return event.Decision{}, false
	}
	ev, err := event.Decode(m.Data, 0)
	if err != nil {
		t.Fatal(err)
	}
	var d event.Decision
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d, d.Trigger.ID == id
}

// TestPlanThenActRelease, end to end on a real worker: plan shows the
// decisions the worker then makes and publishes nothing; a copy that
// ends failed (a permanent error from the API) is listed as such, and
// once released a new trigger cancels it.
func TestPlanThenActRelease(t *testing.T) {
	w := startWorld(t)
	dir := t.TempDir()
	policies := filepath.Join(dir, "policies.yaml")
	if err := os.WriteFile(policies, []byte(planPolicies), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := w.AppConfig("w1")
	cfg.PolicyPaths = []string{policies}
	cfg.QPS, cfg.Burst = 1000, 50
	cfg.ECSAccessKeyID, cfg.ECSAccessKeySecret = "run-key", "run-secret"
	a, err := w.StartApp(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), nil)
	if err != nil {
		t.Fatal(err)
	}
	sim, names, js := w.Sim(), w.Names(), w.JetStream()
	seed := func(id, cc string, protect bool) string {
		tags := map[string]string{"cost-center": cc}
		if protect {
			tags["protect"] = "true"
		}
		id = sim.AddImage(ecssim.Image{ID: id, Region: "cn-shanghai", IsCopied: true, SourceRegion: "cn-hangzhou",
			SourceImageID: "m-src00001", Tags: tags, CopyTime: time.Hour})
		publishEvent(t, w, names.CopySubject("started"), "copy.started", "started-"+id, map[string]any{
			"image_id": id, "region": "cn-shanghai", "source_region": "cn-hangzhou", "tags": tags})
		return "cn-shanghai/" + id
	}
	ok1, failing, golden, other := seed("m-plan00001", "ml", false), seed("m-plan00002", "ml", false), seed("m-plan00003", "ml", true), seed("m-plan00004", "web", false)
	natstest.WaitFor(t, "4 copies in the inventory", 20*time.Second, func() bool { return a.Worker.Inventory().Len() == 4 })
	data := `{"budget":"ml","percent":120,"scope":{"tags":{"cost-center":"ml"}}}`

	// plan publishes nothing and claims nothing.
	counts := func() []uint64 {
		var n []uint64
		for _, s := range []jetstream.Stream{a.Topo.Triggers, a.Topo.Jobs, a.Topo.Events} {
			n = append(n, streamMsgs(t, s))
		}
		keys, _ := a.Topo.Claims.ListKeys(t.Context())
		var k uint64
		for range keys.Keys() {
			k++
		}
		return append(n, k)
	}
	before := counts()
	plan := planLines(t, w.NATSURL(), policies, data)
	if after := counts(); !slices.Equal(before, after) {
		t.Errorf("plan changed the streams or claims: %v -> %v", before, after)
	}
	want := map[string]string{ok1: "cancel", failing: "cancel", golden: "protect"}
	if len(plan) != len(want) {
		t.Fatalf("plan: %+v", plan)
	}
	for k, action := range want {
		if plan[k].Action != action {
			t.Errorf("plan %s: %+v, want %s", k, plan[k], action)
		}
	}
	if _, ok := plan[other]; ok {
		t.Errorf("plan selected %s of another cost center", other)
	}
	out, _, err := cli(t, "plan", "budget.exceeded", "--nats-url", w.NATSURL(), "--policy", policies, "--data", data)
	if err != nil || !strings.HasPrefix(out, "REGION       IMAGE        ACTION   POLICIES  REASON\n") ||
		!strings.HasSuffix(out, "3 selected: 2 cancel, 1 protect; 4 copies in the inventory (cn-shanghai); fired: budget, golden. Nothing was done.\n") {
		t.Errorf("plan table: %v\n%s", err, out)
	}

	// The worker decides the same, copy by copy.
	sim.Script(strings.TrimPrefix(failing, "cn-shanghai/"), ecssim.Answer{Status: 400, Code: "InvalidParameter", Message: "The specified parameter is not valid."})
	if _, _, err := cli(t, "trigger", "budget.exceeded", "--nats-url", w.NATSURL(), "--id", "t-1", "--data", data); err != nil {
		t.Fatal(err)
	}
	var dec event.Decision
	natstest.WaitFor(t, "the decision of t-1", 20*time.Second, func() bool {
		var ok bool
		dec, ok = lastDecision(t, js, names.EventStream, "t-1")
		return ok
	})
	got := map[string]planLine{}
	for _, l := range []struct {
		action string
		dcs    []event.DecidedCopy
	}{{"cancel", dec.Cancel}, {"protect", dec.Protected}, {"held", dec.Held}, {"planned", dec.Planned}, {worker.ActionAlreadyDecided, dec.AlreadyDecided}} {
		for _, dc := range l.dcs {
			got[dc.Region+"/"+dc.ImageID] = planLine{ImageID: dc.ImageID, Region: dc.Region, Action: l.action, Policies: dc.Policies, Reason: dc.Reason}
		}
	}
	if len(got) != len(plan) {
		t.Errorf("decided %+v, planned %+v", got, plan)
	}
	for k, p := range plan {
		g := got[k]
		if g.Action != p.Action || !slices.Equal(g.Policies, p.Policies) || g.Reason != p.Reason {
			t.Errorf("%s: decided %+v, planned %+v", k, g, p)
		}
	}

	// One copy cancelled, one failed for good; claims shows it.
	natstest.WaitFor(t, "the failed claim", 20*time.Second, func() bool {
		out, _, err := cli(t, "claims", "--nats-url", w.NATSURL(), "--state", "failed", "--json")
		return err == nil && strings.Contains(out, `"image_id":"m-plan00002"`)
	})
	out, _, _ = cli(t, "copies", "--nats-url", w.NATSURL(), "--json")
	if !strings.Contains(out, `"image_id":"m-plan00002","region":"cn-shanghai","status":"Waiting"`) || strings.Contains(out, "m-plan00001") || !strings.Contains(out, `"claim":"failed"`) {
		t.Errorf("copies after the failure:\n%s", out)
	}
	// Until released, a new trigger leaves it alone, and plan says so.
	plan = planLines(t, w.NATSURL(), policies, data)
	if p := plan[failing]; p.Action != worker.ActionAlreadyDecided || !strings.HasSuffix(p.Reason, ": failed") {
		t.Errorf("plan of the failed copy: %+v", p)
	}

	if _, _, err := cli(t, "release", failing, "--nats-url", w.NATSURL(), "--reason", "parameter fixed", "--by", "ops"); err != nil {
		t.Fatal(err)
	}
	if p := planLines(t, w.NATSURL(), policies, data)[failing]; p.Action != "cancel" {
		t.Errorf("plan after release: %+v", p)
	}
	if _, _, err := cli(t, "trigger", "budget.exceeded", "--nats-url", w.NATSURL(), "--id", "t-2", "--data", data); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "the released copy cancelled", 20*time.Second, func() bool {
		out, _, err := cli(t, "claims", "--nats-url", w.NATSURL(), "--state", "done", "--json")
		return err == nil && strings.Contains(out, `"image_id":"m-plan00002","region":"cn-shanghai","state":"done","outcome":"cancelled","trigger_id":"t-2"`)
	})
	if n := sim.Calls("CancelCopyImage", strings.TrimPrefix(failing, "cn-shanghai/")); n != 2 {
		t.Errorf("%d calls for the released copy, want 2 (the failed one, then the cancel)", n)
	}
}
