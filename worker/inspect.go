package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// Read-only views of the shared buckets for the operator's commands
// (copyguard copies, claims, conditions, plan). They decode the values
// with the worker's own types, so what the commands show cannot drift
// from what the worker stores; nothing here writes.

// CopyKey is a copy's key in the claims and copies buckets.
func CopyKey(region, imageID string) string { return copyKeyOf(region, imageID) }

// CopyEntry is a copies bucket value as the fleet sees it.
type CopyEntry struct {
	cloud.Copy
	// SeenAt is when copyguard first observed the copy (zero in values
	// written by older workers).
	SeenAt time.Time
}

// ReadCopy decodes a copies bucket value.
func ReadCopy(val []byte) (CopyEntry, error) {
	var sc storedCopy
	if err := json.Unmarshal(val, &sc); err != nil {
		return CopyEntry{}, fmt.Errorf("read copy: %w", err)
	}
	return CopyEntry{Copy: sc.Copy, SeenAt: sc.SeenAt}, nil
}

// ClaimFailed is the state ClaimInfo reports for a claim that is done
// with a failed result: not decided for good, and what copyguard release
// is for.
const ClaimFailed = "failed"

// ClaimStates lists the states ClaimInfo.State takes, in the order of the
// state machine (retry.go).
func ClaimStates() []string {
	return []string{string(stateDecided), string(stateCalling), string(stateDone), ClaimFailed}
}

// ClaimInfo is a claims bucket value.
type ClaimInfo struct {
	Trigger  event.TriggerRef
	Policies []string
	ImageID  string
	Region   string
	// State is decided, calling, done, or failed (done with a failed
	// result).
	State    string
	Attempts int
	Owner    string
	// DecidedAt and UpdatedAt are when the claim was made and last written.
	DecidedAt, UpdatedAt time.Time
	// Result is the copy's result once the claim is done.
	Result *event.Result
	// DecidedBy is what a later trigger selecting the copy is told.
	DecidedBy string
}

// ReadClaim decodes a claims bucket value.
func ReadClaim(val []byte) (ClaimInfo, error) {
	var c claim
	if err := json.Unmarshal(val, &c); err != nil {
		return ClaimInfo{}, fmt.Errorf("read claim: %w", err)
	}
	return claimInfo(c), nil
}

func claimInfo(c claim) ClaimInfo {
	state := string(c.State)
	if c.State == stateDone && c.Result != nil && c.Result.Outcome == string(cloud.OutcomeFailed) {
		state = ClaimFailed
	}
	return ClaimInfo{
		Trigger: c.Trigger, Policies: c.Policies, ImageID: c.ImageID, Region: c.Region, State: state,
		Attempts: c.Attempts, Owner: c.Owner, DecidedAt: c.DecidedAt, UpdatedAt: c.UpdatedAt, Result: c.Result,
		DecidedBy: c.decidedBy(),
	}
}

// ConditionInfo is a conditions bucket value.
type ConditionInfo struct {
	Policy  string
	Trigger event.TriggerRef
	// Region is the trigger's data.region, where it has one.
	Region  string
	Expires time.Time
}

// ReadCondition decodes a conditions bucket value.
func ReadCondition(val []byte) (ConditionInfo, error) {
	var c condition
	if err := json.Unmarshal(val, &c); err != nil {
		return ConditionInfo{}, fmt.Errorf("read condition: %w", err)
	}
	region, _ := c.Trigger.Data["region"].(string)
	return ConditionInfo{Policy: c.Policy, Trigger: c.Ref, Region: region, Expires: c.Expires}, nil
}

// ActionAlreadyDecided is a Preview action: the copy would be cancelled,
// but an earlier trigger's claim holds it, so this trigger changes
// nothing for it.
const ActionAlreadyDecided = "already_decided"

// Previewed is what deciding a trigger now would do to one copy.
type Previewed struct {
	Copy cloud.Copy
	// Action is cancel, protect, held, planned or already_decided.
	Action   string
	Policies []string
	Reason   string
}

// PreviewConfig is the state of the fleet a preview decides against.
type PreviewConfig struct {
	// Claims is the claims bucket: a copy claimed earlier is not
	// cancelled again.
	Claims KV
	// Pause is the pause switch as stored; nil when it was never set.
	Pause *PauseState
	// DryRun says the fleet runs with --dry-run.
	DryRun bool
}

// Preview evaluates t against copies as the decider would, and says what
// it would do to each selected copy, acting on nothing: it writes no
// claim, queues no job and publishes nothing. It follows apply's rules
// (decider.go) and is tested against them.
func Preview(ctx context.Context, set *policy.Set, t policy.Trigger, copies *policy.CopyIndex, cfg PreviewConfig, now time.Time) (*policy.Plan, []Previewed, error) {
	plan := set.Evaluate(t, copies, now)
	ref := event.TriggerRef{ID: t.ID, Type: t.Type, Source: t.Source}
	paused := cfg.Pause != nil && cfg.Pause.Paused
	out := make([]Previewed, 0, len(plan.Decisions))
	for _, pd := range plan.Decisions {
		p := Previewed{Copy: pd.Copy, Action: pd.Action.String(), Policies: pd.Policies, Reason: pd.Reason}
		switch pd.Action {
		case policy.ActionProtect:
			p.Policies = pd.Vetoed
			if p.Reason == "" {
				p.Reason = fmt.Sprintf("protected by %s; vetoed %s", strings.Join(pd.Vetoed, ", "), strings.Join(pd.Policies, ", "))
			}
		case policy.ActionHold, policy.ActionPlan:
		case policy.ActionCancel:
			switch {
			case cfg.DryRun:
				p.Action, p.Reason = policy.ActionPlan.String(), "dry run (--dry-run): would cancel"
			case paused:
				p.Action, p.Reason = policy.ActionHold.String(), "paused: "+cfg.Pause.Reason
			default:
				val, _, err := cfg.Claims.Get(ctx, copyKey(pd.Copy))
				if errors.Is(err, ErrNotFound) {
					break
				}
				if err != nil {
					return nil, nil, fmt.Errorf("read claim %s: %w", copyKey(pd.Copy), err)
				}
				var c claim
				if err := json.Unmarshal(val, &c); err != nil {
					return nil, nil, fmt.Errorf("read claim %s: %w", copyKey(pd.Copy), err)
				}
				if c.Trigger != ref {
					p.Action, p.Reason = ActionAlreadyDecided, c.decidedBy()
				}
			}
		default:
			return nil, nil, fmt.Errorf("decision for %s with action %v", copyKey(pd.Copy), pd.Action)
		}
		out = append(out, p)
	}
	return plan, out, nil
}
