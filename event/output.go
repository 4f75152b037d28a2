package event

import "time"

// CloudEvent types of the events copyguard publishes.
const (
	TypeDecision = "copyguard.decision"
	TypeResult   = "copyguard.result"
	TypeRejected = "copyguard.rejected"
)

// TriggerRef names the trigger a decision or result answers.
type TriggerRef struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Source string `json:"source"`
}

// Result is the data of a copyguard.result.<outcome> event: what finally
// happened to one decided copy (SPEC §5).
type Result struct {
	Trigger      TriggerRef `json:"trigger"`
	Outcome      string     `json:"outcome"`
	Policies     []string   `json:"policies"`
	ImageID      string     `json:"image_id"`
	Region       string     `json:"region"`
	SourceRegion string     `json:"source_region"`
	Attempts     int        `json:"attempts"`
	RequestID    string     `json:"request_id,omitempty"`
	ErrorCode    string     `json:"error_code,omitempty"`
	ErrorMessage string     `json:"error_message,omitempty"`
	// Reason says in words why this outcome, e.g. "held: max_cancels 50 exceeded (64 selected)".
	Reason string `json:"reason,omitempty"`
	DryRun bool   `json:"dry_run"`
	// Final is false only on a held result that the worker will follow
	// by acting without a new trigger (a cancel held while the region's
	// circuit breaker is open); every decided copy gets exactly one
	// result with Final true.
	Final      bool      `json:"final"`
	DecidedAt  time.Time `json:"decided_at"`
	FinishedAt time.Time `json:"finished_at"`
	Instance   string    `json:"instance"`
}

// DecidedCopy is one copy in a decision event.
type DecidedCopy struct {
	ImageID  string   `json:"image_id"`
	Region   string   `json:"region"`
	Policies []string `json:"policies"`
	// Reason is set for held copies (which limit) and for copies already
	// decided by an earlier trigger (which one).
	Reason string `json:"reason,omitempty"`
	// The copy as the worker saw it when deciding (SPEC §11, Audit), so a
	// reviewer can replay the decision with copyguard policy test: its
	// status, progress and tags, and when the worker last observed it.
	// Absent in decisions made before these fields existed.
	Status     string            `json:"status,omitempty"`
	Progress   *int              `json:"progress,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	ObservedAt time.Time         `json:"observed_at,omitzero"`
}

// EvalError is a CEL runtime error for one (policy, copy): that policy did
// not match that copy.
type EvalError struct {
	Policy  string `json:"policy"`
	Field   string `json:"field"` // "when" or "match"
	ImageID string `json:"image_id,omitempty"`
	Region  string `json:"region,omitempty"`
	Message string `json:"message"`
}

// Decision is the data of a copyguard.decision event: the plan for one
// trigger (SPEC §5).
type Decision struct {
	Trigger       TriggerRef    `json:"trigger"`
	PolicyVersion string        `json:"policy_version"`
	Fired         []string      `json:"policies_fired"`
	Cancel        []DecidedCopy `json:"cancel"`
	Planned       []DecidedCopy `json:"planned"`
	Protected     []DecidedCopy `json:"protected"`
	Held          []DecidedCopy `json:"held"`
	// AlreadyDecided lists copies this trigger selected that an earlier
	// trigger had already claimed; they get no second result.
	AlreadyDecided []DecidedCopy `json:"already_decided"`
	Errors         []EvalError   `json:"errors"`
	// ErrorsDropped counts CEL runtime errors beyond the ones listed.
	ErrorsDropped int       `json:"errors_dropped,omitempty"`
	Paused        bool      `json:"paused"`
	DryRun        bool      `json:"dry_run"`
	DecidedAt     time.Time `json:"decided_at"`
	Instance      string    `json:"instance"`
	// Note says, for a decision that selected nothing, why where the
	// worker can tell cheaply: e.g. `no copy m-x in cn-shanghai is
	// known; regions watched: cn-hangzhou, cn-shanghai`. Whatever was
	// selected, it names the policies whose `sources` refused the
	// trigger's source: `source "laptop" may not trigger policy "x" (not
	// in its sources)`.
	Note string `json:"note,omitempty"`
}

// Rejected is the data of a copyguard.rejected event: input that could not
// be used, and why.
type Rejected struct {
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
	// Field names the offending attribute or data field, when one is to blame.
	Field string `json:"field,omitempty"`
	// Original is the rejected body, cut to a bounded size, as text.
	Original  string    `json:"original"`
	Truncated bool      `json:"truncated,omitempty"`
	Instance  string    `json:"instance"`
	At        time.Time `json:"at"`
}
