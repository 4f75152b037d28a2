package event

import (
	"regexp"
	"strings"
	"time"
)

// Built-in trigger types (SPEC §2.1).
const (
	TypeBudgetExceeded    = "budget.exceeded"
	TypeRegionQuarantined = "region.quarantined"
	TypeRegionReleased    = "region.released"
	TypeCancelRequested   = "cancel.requested"
)

// MaxTriggerTypeLen bounds a trigger type, which is also a NATS subject
// suffix and a key in KV buckets.
const MaxTriggerTypeLen = 100

// triggerTypeRe: dot-separated tokens of [a-z0-9_-]. No empty tokens, so
// no leading, trailing or doubled dots; "*" and ">" are not in the set, so
// a type can never act as a NATS wildcard.
var triggerTypeRe = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_-]+)*$`)

// ValidTriggerType reports whether s is usable as a trigger type and NATS
// subject suffix: dot-separated tokens of [a-z0-9_-], no wildcards, at
// most 100 characters.
func ValidTriggerType(s string) bool {
	return len(s) <= MaxTriggerTypeLen && triggerTypeRe.MatchString(s)
}

// BudgetScope says which resources a budget covers.
type BudgetScope struct {
	Tags            map[string]string `json:"tags,omitempty"`
	ResourceGroupID string            `json:"resource_group_id,omitempty"`
}

// BudgetExceeded is the data of a budget.exceeded trigger. Budget and
// Percent are required, because a policy cannot tell which budget or how
// far it is over without them; the other fields are optional and read as
// zero values when absent.
type BudgetExceeded struct {
	Budget   string      `json:"budget"`
	Scope    BudgetScope `json:"scope,omitzero"`
	Limit    float64     `json:"limit,omitempty"`
	Actual   float64     `json:"actual,omitempty"`
	Currency string      `json:"currency,omitempty"`
	Percent  float64     `json:"percent"`
}

// Validate checks the fields against SPEC §2.1.
func (b BudgetExceeded) Validate() error {
	return firstError(
		checkField("data.budget", b.Budget, maxNameLen, true),
		checkTags("data.scope.tags", b.Scope.Tags),
		checkResourceGroup("data.scope.resource_group_id", b.Scope.ResourceGroupID),
		checkFinite("data.limit", b.Limit),
		nonNegative("data.limit", b.Limit),
		checkFinite("data.actual", b.Actual),
		checkFinite("data.percent", b.Percent),
		nonNegative("data.percent", b.Percent),
		checkCurrency(b.Currency),
	)
}

// RegionQuarantined is the data of a region.quarantined trigger: no copy
// may go into (or, per policy, out of) Region until it is released or
// Until passes.
type RegionQuarantined struct {
	Region   string     `json:"region"`
	Reason   string     `json:"reason"`
	Incident string     `json:"incident,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
}

// Validate checks the fields against SPEC §2.1.
func (q RegionQuarantined) Validate() error {
	var until *Error
	if q.Until != nil && q.Until.IsZero() {
		until = errorf("data.until", "must not be the zero time")
	} else if q.Until != nil {
		until = checkTime("data.until", *q.Until)
	}
	return firstError(
		checkRegion("data.region", q.Region, true),
		checkField("data.reason", q.Reason, maxReasonLen, true),
		checkField("data.incident", q.Incident, maxNameLen, false),
		until,
	)
}

// RegionReleased is the data of a region.released trigger: it lifts a
// quarantine on Region (the one for Incident, when given).
type RegionReleased struct {
	Region   string `json:"region"`
	Incident string `json:"incident,omitempty"`
}

// Validate checks the fields against SPEC §2.1.
func (r RegionReleased) Validate() error {
	return firstError(
		checkRegion("data.region", r.Region, true),
		checkField("data.incident", r.Incident, maxNameLen, false),
	)
}

// CancelRequested is the data of a cancel.requested trigger: an operator
// asks to cancel one copy.
type CancelRequested struct {
	ImageID     string `json:"image_id"`
	Region      string `json:"region"`
	Reason      string `json:"reason"`
	RequestedBy string `json:"requested_by,omitempty"`
}

// Validate checks the fields against SPEC §2.1.
func (c CancelRequested) Validate() error {
	return firstError(
		checkImageID("data.image_id", c.ImageID, true),
		checkRegion("data.region", c.Region, true),
		checkField("data.reason", c.Reason, maxReasonLen, true),
		checkField("data.requested_by", c.RequestedBy, maxNameLen, false),
	)
}

// DecodeTrigger validates the data of a trigger. Built-in types are read
// into their typed payload (a value: BudgetExceeded, RegionQuarantined,
// RegionReleased or CancelRequested); any other valid type only needs a
// JSON object as data, and typed is nil.
//
// data is the generic form policies see as trigger.data: objects are
// map[string]any, arrays []any, and every number a float64 (see
// decodeData for why, and for the 2^53 limit on integers). Unknown fields
// of built-in types are kept in data and ignored by the typed payload, so
// producers can add fields before copyguard knows them.
func DecodeTrigger(e *Event) (data map[string]any, typed any, err error) {
	if e == nil {
		return nil, nil, errorf("", "nil event")
	}
	if !ValidTriggerType(e.Type) {
		return nil, nil, errorf("type", "%q is not a valid trigger type: want dot-separated tokens of a-z, 0-9, _ and -, at most %d characters",
			truncate(e.Type, MaxTriggerTypeLen+10), MaxTriggerTypeLen)
	}
	if e.Type == TypeCopyStarted || e.Type == TypeCopyFinished {
		return nil, nil, errorf("type", "%q is an inventory event, not a trigger", e.Type)
	}
	m, derr := decodeData(e.Data)
	if derr != nil {
		return nil, nil, derr
	}
	typed, err = readTrigger(e.Type, m)
	if err != nil {
		return nil, nil, err
	}
	return m, typed, nil
}

func readTrigger(typ string, m map[string]any) (any, error) {
	r := &reader{m: m, path: "data"}
	var p interface{ Validate() error }
	switch typ {
	case TypeBudgetExceeded:
		b := BudgetExceeded{Budget: r.str("budget", true)}
		scope := r.object("scope")
		b.Scope.Tags = scope.tags("tags")
		b.Scope.ResourceGroupID = scope.str("resource_group_id", false)
		r.adopt(scope)
		b.Limit = r.number("limit", false)
		b.Actual = r.number("actual", false)
		b.Currency = r.str("currency", false)
		b.Percent = r.number("percent", true)
		p = b
	case TypeRegionQuarantined:
		q := RegionQuarantined{
			Region:   r.str("region", true),
			Reason:   r.str("reason", true),
			Incident: r.str("incident", false),
		}
		if t := r.time("until"); !t.IsZero() {
			q.Until = &t
		}
		p = q
	case TypeRegionReleased:
		p = RegionReleased{Region: r.str("region", true), Incident: r.str("incident", false)}
	case TypeCancelRequested:
		p = CancelRequested{
			ImageID:     r.str("image_id", true),
			Region:      r.str("region", true),
			Reason:      r.str("reason", true),
			RequestedBy: r.str("requested_by", false),
		}
	default:
		return nil, nil
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// DefaultSubjectPrefix is the subject prefix when none is configured.
const DefaultSubjectPrefix = "copyguard"

// CheckSubject checks that an input event arrived on the subject its type
// belongs to: <prefix>.trigger.<type> for triggers, <prefix>.copy.started
// and <prefix>.copy.finished for inventory. A mismatch means a producer
// bug (or a misrouted stream), and acting on it could apply the wrong
// policies. An empty prefix means DefaultSubjectPrefix.
func CheckSubject(e *Event, subject, prefix string) error {
	if e == nil {
		return errorf("", "nil event")
	}
	subjects := SubjectsFor(prefix)
	prefix = subjects.Prefix
	if typ, ok := strings.CutPrefix(subject, subjects.Trigger("")); ok {
		if !ValidTriggerType(typ) {
			return errorf("", "subject %q does not end in a valid trigger type", truncate(subject, 2*MaxTypeLen))
		}
		if e.Type != typ {
			return errorf("type", "%q does not match subject %q, which carries type %q",
				truncate(e.Type, MaxTypeLen), truncate(subject, 2*MaxTypeLen), truncate(typ, MaxTypeLen))
		}
		return nil
	}
	want := ""
	switch subject {
	case subjects.Copy("started"):
		want = TypeCopyStarted
	case subjects.Copy("finished"):
		want = TypeCopyFinished
	default:
		return errorf("", "subject %q is not an input subject: want %s.trigger.<type>, %s.copy.started or %s.copy.finished",
			truncate(subject, 2*MaxTypeLen), prefix, prefix, prefix)
	}
	if e.Type != want {
		return errorf("type", "%q does not match subject %q, which carries type %q", truncate(e.Type, MaxTypeLen), subject, want)
	}
	return nil
}

func nonNegative(field string, f float64) *Error {
	if f < 0 {
		return errorf(field, "must not be negative, got %v", f)
	}
	return nil
}

func checkCurrency(s string) *Error {
	if s != "" && !currencyRe.MatchString(s) {
		return errorf("data.currency", "%q is not a currency code: want three capital letters like CNY or USD", truncate(s, 32))
	}
	return nil
}

// firstError returns the first non-nil error, as an error interface that
// is nil when all are (a nil *Error must not become a non-nil error).
func firstError(errs ...*Error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
