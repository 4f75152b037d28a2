package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TypeAudit is the CloudEvent type of an operator's action (SPEC §11).
const TypeAudit = "copyguard.audit"

// AuditAction is what an operator (or a worker, for update-topology) did
// to the fleet's shared state.
type AuditAction string

// The audit actions.
const (
	AuditPause          AuditAction = "pause"
	AuditResume         AuditAction = "resume"
	AuditRelease        AuditAction = "release"
	AuditUpdateTopology AuditAction = "update-topology"
)

// AuditActions lists every audit action.
func AuditActions() []AuditAction {
	return []AuditAction{AuditPause, AuditResume, AuditRelease, AuditUpdateTopology}
}

// Valid reports whether a is one of the audit actions.
func (a AuditAction) Valid() bool {
	switch a {
	case AuditPause, AuditResume, AuditRelease, AuditUpdateTopology:
		return true
	}
	return false
}

func (a AuditAction) String() string { return string(a) }

// Audit is the data of a copyguard.audit event: who changed the fleet's
// shared state, how, and why.
type Audit struct {
	Action AuditAction `json:"action"`
	// By is who: user@host for the commands, the instance for a worker.
	By     string `json:"by"`
	Reason string `json:"reason"`
	// Target is what was acted on: REGION/IMAGE_ID for release; empty
	// for the actions on the whole fleet.
	Target string    `json:"target,omitempty"`
	At     time.Time `json:"at"`
}

// Validate checks that an audit event says who did what, and why where
// the command asks for a reason.
func (a Audit) Validate() error {
	if !a.Action.Valid() {
		names := make([]string, 0, 4)
		for _, x := range AuditActions() {
			names = append(names, string(x))
		}
		return errorf("action", "%q is not an audit action: want one of %s", truncate(string(a.Action), 64), strings.Join(names, ", "))
	}
	if err := firstError(
		checkField("by", a.By, maxNameLen, true),
		checkField("reason", a.Reason, maxReasonLen, a.Action == AuditRelease),
	); err != nil {
		return err
	}
	switch a.Action {
	case AuditRelease:
		region, id, ok := strings.Cut(a.Target, "/")
		if !ok {
			return errorf("target", "%q: want REGION/IMAGE_ID, like cn-hangzhou/m-bp1abcd", truncate(a.Target, 64))
		}
		if err := firstError(checkRegion("target", region, true), checkImageID("target", id, true)); err != nil {
			return err
		}
	default:
		if a.Target != "" {
			return errorf("target", "must be empty for %s, which acts on the whole fleet", a.Action)
		}
	}
	if a.At.IsZero() {
		return errorf("at", "must be set")
	}
	return nil
}

// ID is the audit event's CloudEvent id and Nats-Msg-Id: the same for
// the same action by the same person at the same instant, so a publish
// retried after an election is stored once.
func (a Audit) ID() string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s", a.By, a.Target, a.Reason, a.At.UTC().Format(time.RFC3339Nano)))
	return "audit:" + string(a.Action) + ":" + hex.EncodeToString(sum[:12])
}

// DecodeAudit reads and validates the data of an audit event.
func DecodeAudit(ev *Event) (Audit, error) {
	var a Audit
	if ev.Type != TypeAudit {
		return a, errorf("type", "%q is not %s", truncate(ev.Type, 64), TypeAudit)
	}
	if err := json.Unmarshal(ev.Data, &a); err != nil {
		return a, errorf("data", "%v", err)
	}
	return a, a.Validate()
}
