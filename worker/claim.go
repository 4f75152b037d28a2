package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// claim is the value of a copy's key in the claims bucket. Whoever creates
// it owns the copy's decision: that is how one copy gets one result across
// replicas, triggers and restarts. retry.go draws its states.
type claim struct {
	Trigger  event.TriggerRef `json:"trigger"`
	Policies []string         `json:"policies"`
	// The copy's identity only: the job carries the rest, and the claim is
	// rewritten before and after every call.
	ImageID  string     `json:"image_id"`
	Region   string     `json:"region"`
	State    claimState `json:"state"`
	Attempts int        `json:"attempts"` // calls made
	// Failures counts the calls that failed retryably other than by
	// Throttling; it is what MaxAttempts bounds.
	Failures int `json:"failures,omitempty"`
	// Unknown: an earlier call may have cancelled the copy (it timed out,
	// the connection dropped, a 5xx), so NotFound now means cancelled.
	Unknown bool `json:"unknown,omitempty"`
	// HeldOpen is the code of the open circuit a non-final held result was
	// published for (breaker.go), so it is published once.
	HeldOpen  string        `json:"held_open,omitempty"`
	Owner     string        `json:"owner"`
	DecidedAt time.Time     `json:"decided_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Result    *event.Result `json:"result,omitempty"`
	// Traceparent is the trigger's W3C traceparent (trace.go), sent with
	// the result.
	Traceparent string `json:"traceparent,omitempty"`
}

// describe says where the claim is, for a later trigger's "already
// decided" reason.
func (c claim) describe() string {
	if c.State == stateDone && c.Result != nil {
		return c.Result.Outcome
	}
	return string(c.State)
}

// decidedBy is the reason a later trigger that selects the copy gets:
// who decided it, and where that decision is.
func (c claim) decidedBy() string {
	return fmt.Sprintf("already decided by trigger %s (%s): %s", c.Trigger.ID, c.Trigger.Type, c.describe())
}

// job is the durable unit of work for one copy to cancel: the decider
// publishes it, the actor consumes it.
type job struct {
	Trigger   event.TriggerRef `json:"trigger"`
	Policies  []string         `json:"policies"`
	Copy      cloud.Copy       `json:"copy"`
	ClaimRev  uint64           `json:"claim_rev"`
	DecidedAt time.Time        `json:"decided_at"`
	// Eval is the trigger as the policies saw it, for the re-check before
	// the cancel (recheck.go); set only when the re-check may need it. A
	// job without it, as older workers wrote, is cancelled without one.
	Eval *policy.Trigger `json:"eval,omitempty"`
	// Traceparent is the trigger's W3C traceparent (trace.go).
	Traceparent string `json:"traceparent,omitempty"`
}

// claimStore reads and writes claims. Every write is a compare-and-set on
// the bucket, so it needs no lock of its own.
type claimStore struct {
	kv  KV
	now func() time.Time
}

// create writes a new claim; ErrExists if the copy is claimed already.
func (s claimStore) create(ctx context.Context, key string, c claim) (uint64, error) {
	val, _ := json.Marshal(c)
	return s.kv.Create(ctx, key, val, 0)
}

func (s claimStore) load(ctx context.Context, key string) (claim, uint64, error) {
	val, rev, err := s.kv.Get(ctx, key)
	if err != nil {
		return claim{}, 0, fmt.Errorf("read claim %s: %w", key, err)
	}
	var c claim
	if err := json.Unmarshal(val, &c); err != nil {
		return claim{}, 0, fmt.Errorf("read claim %s: %w", key, err)
	}
	return c, rev, nil
}

// save writes c if the claim is still at rev (compare-and-set).
func (s claimStore) save(ctx context.Context, key string, c claim, rev uint64) (uint64, error) {
	c.UpdatedAt = s.now()
	val, _ := json.Marshal(c)
	return s.kv.Update(ctx, key, val, rev)
}

// release deletes the claim, so a later trigger may claim the copy again.
func (s claimStore) release(ctx context.Context, key string) error {
	return s.kv.Delete(ctx, key)
}
