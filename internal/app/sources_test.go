package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/internal/natstest"
)

// TestSourcesAllowlist: a trigger from a source the policy does not list
// cancels nothing, and its decision names the source and the policy; the
// same trigger from a listed source (exact, or through a * pattern)
// cancels the copy.
func TestSourcesAllowlist(t *testing.T) {
	e := newEnv(t)
	c := e.config("w1")
	c.PolicyPaths = []string{"testdata/sources.yaml"}
	a := e.start(c)
	one := e.seed(copyOpts{region: "cn-shanghai", costCenter: "x"})
	two := e.seed(copyOpts{region: "cn-shanghai", costCenter: "x"})
	e.waitInventory(a, 2)

	publish := func(source, id, image string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.w.Publish(ctx, e.names.TriggerSubject("cancel.requested"), "cancel.requested", source, id,
			map[string]any{"image_id": image, "region": "cn-shanghai", "reason": "test"}); err != nil {
			t.Fatal(err)
		}
	}

	publish("laptop", "forged", one)
	d := e.waitDecision("forged")
	if len(d.Cancel)+len(d.Held)+len(d.Planned) != 0 || len(d.Fired) != 0 {
		t.Fatalf("forged trigger: fired %v, cancel %v", d.Fired, d.Cancel)
	}
	if want := `source "laptop" may not trigger policy "bridge-only" (not in its sources)`; !strings.Contains(d.Note, want) {
		t.Errorf("note %q, want it to contain %q", d.Note, want)
	}

	publish("budget-bridge", "real", one)
	if d := e.waitDecision("real"); len(d.Cancel) != 1 || d.Cancel[0].ImageID != one || d.Note != "" {
		t.Fatalf("listed source: cancel %v, note %q", d.Cancel, d.Note)
	}
	if r := e.waitResult("cn-shanghai", one); r.Outcome != "cancelled" {
		t.Errorf("result %+v", r)
	}
	publish("urn:ops:console", "pattern", two)
	if d := e.waitDecision("pattern"); len(d.Cancel) != 1 || d.Cancel[0].ImageID != two {
		t.Fatalf("source by pattern: cancel %v, note %q", d.Cancel, d.Note)
	}
	e.waitResult("cn-shanghai", two)
	// The forged trigger was decided before the others; nothing arrives
	// for it late.
	natstest.WaitFor(t, "one call per copy", 5*time.Second, func() bool {
		return e.sim.Calls("CancelCopyImage", one) == 1 && e.sim.Calls("CancelCopyImage", two) == 1
	})
}
