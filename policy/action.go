package policy

import "fmt"

// Action is what a policy does to the copies it selects, and, in a
// Decision, what was decided for one copy.
type Action int

// The zero Action is ActionNone so that a forgotten field never reads as
// "cancel".
const (
	// ActionNone means no policy selected the copy (only used in tests and
	// reports; a Plan holds no such decision).
	ActionNone Action = iota
	// ActionCancel cancels the copy.
	ActionCancel
	// ActionProtect vetoes every cancel of the copy.
	ActionProtect
	// ActionHold means a limit (max_cancels) stopped the cancel.
	ActionHold
	// ActionPlan means only dry-run policies selected the copy.
	ActionPlan
)

// String returns the name used in policy files, results and test cases.
func (a Action) String() string {
	switch a {
	case ActionNone:
		return "none"
	case ActionCancel:
		return "cancel"
	case ActionProtect:
		return "protect"
	case ActionHold:
		return "held"
	case ActionPlan:
		return "planned"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// ParseAction is the inverse of String. It accepts every action name,
// including the decision-only ones, which policy test files use.
func ParseAction(s string) (Action, error) {
	for a := ActionNone; a <= ActionPlan; a++ {
		if a.String() == s {
			return a, nil
		}
	}
	return ActionNone, fmt.Errorf("unknown action %q (want cancel, protect, held, planned or none)", s)
}
