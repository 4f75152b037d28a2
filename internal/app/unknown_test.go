package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud/ecssim"
)

// unknownCallTimeout is the worker's --call-timeout in these tests: short,
// so a held-back answer times out quickly, yet far above what the
// simulator needs to answer under -race.
const unknownCallTimeout = time.Second

// TestUnknownOutcome runs SPEC §6's rule end to end with the real SDK: a
// CancelCopyImage is repeated only after a call whose outcome is unknown,
// and then InvalidImageId.NotFound counts as cancelled. The rows where the
// first call took effect but its answer never arrived (dropped, or held
// back past the call timeout) must end cancelled after 2 calls, the second
// answered NotFound; a copy the API never had must end already_gone after
// one call, since no earlier call could have cancelled it. The rows where
// the first call was lost before taking effect show the other way to the
// same outcome: the retry itself cancels.
func TestUnknownOutcome(t *testing.T) {
	e := newEnv(t)
	c := e.config("w1")
	c.CallTimeout = unknownCallTimeout
	a := e.start(c)

	const region = "cn-shanghai"
	tests := []struct {
		name     string
		notInSim bool
		script   []ecssim.Answer
		outcome  string
		attempts int
		code     string // error code of the last call
	}{
		{name: "lost answer: cancelled, answer dropped, retry finds NotFound",
			script:  []ecssim.Answer{{Pass: true, Drop: true}},
			outcome: "cancelled", attempts: 2, code: "InvalidImageId.NotFound"},
		{name: "timeout: cancelled, answer held past the call timeout, retry finds NotFound",
			script:  []ecssim.Answer{{Pass: true, Delay: 5 * unknownCallTimeout, DelayAfter: true}},
			outcome: "cancelled", attempts: 2, code: "InvalidImageId.NotFound"},
		{name: "control: never existed, first call NotFound",
			notInSim: true,
			outcome:  "already_gone", attempts: 1, code: "InvalidImageId.NotFound"},
		{name: "dropped before taking effect: the retry cancels",
			script:  []ecssim.Answer{{Drop: true}},
			outcome: "cancelled", attempts: 2, code: ""},
		{name: "timeout before taking effect: the retry cancels",
			script:  []ecssim.Answer{{Pass: true, Delay: 5 * unknownCallTimeout}},
			outcome: "cancelled", attempts: 2, code: ""},
	}
	ids := make([]string, len(tests))
	for i, tt := range tests {
		ids[i] = e.seed(copyOpts{region: region, costCenter: fmt.Sprint("unknown-", i), notInSim: tt.notInSim})
		e.sim.Script(ids[i], tt.script...)
	}
	e.waitInventory(a, len(tests))

	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ids[i]
			trigger := fmt.Sprint("unknown-", i)
			e.trigger("cancel.requested", trigger, map[string]any{"image_id": id, "region": region, "reason": "test"})
			r := e.waitResult(region, id)
			if r.Outcome != tt.outcome || r.Attempts != tt.attempts || r.ErrorCode != tt.code || r.Trigger.ID != trigger {
				t.Errorf("result: outcome=%s attempts=%d code=%q trigger=%s, want %s %d %q %s (%+v)",
					r.Outcome, r.Attempts, r.ErrorCode, r.Trigger.ID, tt.outcome, tt.attempts, tt.code, trigger, r)
			}
			if tt.outcome == "already_gone" && r.Outcome == "cancelled" {
				t.Errorf("a copy the API never had was reported cancelled: NotFound counted as a cancel without an earlier unknown call")
			}
			if tt.attempts == 2 && r.Outcome == "already_gone" {
				t.Fatalf("worker bug: after a first call with an unknown outcome the retry's InvalidImageId.NotFound "+
					"was reported already_gone, want cancelled (SPEC §6; worker/job.go HandleJob, ClassOutcome case): %+v", r)
			}
			if n := e.sim.Calls("CancelCopyImage", id); n != tt.attempts {
				t.Errorf("%d CancelCopyImage calls, want %d", n, tt.attempts)
			}
			if _, ok := e.sim.Image(region, id); ok {
				t.Errorf("the copy still exists")
			}
			if rs := e.result(region, id); len(rs) != 1 {
				t.Errorf("%d results, want 1: %+v", len(rs), rs)
			}
		})
	}
}
