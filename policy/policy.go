package policy

import (
	"time"

	"cel.dev/cel-go/cel"

	"github.com/copyguard/copyguard/policy/internal/query"
)

// Wildcard in `on` makes a policy listen to every trigger type.
const Wildcard = "*"

// Built-in trigger types (SPEC §2.1). Other types are allowed; these are
// the ones a near-miss in `on` is compared with.
const (
	TypeBudgetExceeded    = "budget.exceeded"
	TypeRegionQuarantined = "region.quarantined"
	TypeRegionReleased    = "region.released"
	TypeCancelRequested   = "cancel.requested"
)

// BuiltinTypes lists the built-in trigger types.
func BuiltinTypes() []string {
	return []string{TypeBudgetExceeded, TypeRegionQuarantined, TypeRegionReleased, TypeCancelRequested}
}

// Policy is one compiled policy.
type Policy struct {
	Name        string
	Description string
	// On lists the trigger types the policy listens to; "*" means all.
	On []string
	// Sources, when set, lists the CloudEvents sources (exact, or with `*`
	// for any run of characters) whose triggers may fire the policy; see
	// Accepts.
	Sources []string
	// When and Match are the CEL sources, as written.
	When, Match string
	// Action is ActionCancel or ActionProtect.
	Action Action
	// MaxCancels is the blast-radius limit per trigger; 0 means no limit.
	MaxCancels int
	// MaxRate is the rolling cap across the fleet; the worker enforces it
	// (zero: none).
	MaxRate Rate
	DryRun  bool
	// ActiveFor, when set, makes a trigger this policy fired on a condition
	// that also applies to copies started later; the worker keeps it.
	ActiveFor time.Duration
	// ReleasedBy is the trigger type that ends such a condition early.
	ReleasedBy string
	Enabled    bool
	// File and Line locate the policy (its first key) in its source.
	File string
	Line int

	when  cel.Program // nil when the policy has no `when`
	match *query.Matcher
	terms []query.Term // indexable conjuncts of match, see query.Terms
	// reads names the copy fields match selects; readsAll: it may read
	// any (query.CopyFields).
	reads    map[string]bool
	readsAll bool
}

// Listens reports whether the policy's `on` covers the trigger type.
func (p *Policy) Listens(triggerType string) bool {
	for _, t := range p.On {
		if t == Wildcard || t == triggerType {
			return true
		}
	}
	return false
}

// Indexed reports whether the index can narrow the copies this policy's
// match is run on (for reports and tests; results never depend on it).
func (p *Policy) Indexed() bool { return len(p.terms) > 0 }

// Set is a loaded, compiled policy set. It is immutable and safe for
// concurrent use.
type Set struct {
	policies []*Policy
	byName   map[string]*Policy
	version  string
	// regex holds the compiled `matches` patterns of this set's programs.
	regex *regexCache
}

// Version is a hash of what was loaded (file names and contents), the same
// whatever order the files were listed in.
func (s *Set) Version() string { return s.version }

// Policies returns the policies in load order. The slice is a copy; the
// policies are shared and must not be modified.
func (s *Set) Policies() []*Policy {
	return append([]*Policy(nil), s.policies...)
}

// Policy returns the policy with that name, or nil.
func (s *Set) Policy(name string) *Policy { return s.byName[name] }

// ReadsCopyState reports whether the policy's match reads the copy's
// progress or status (or may read any field): a decision by such a policy
// can go stale while the copy moves on, so the worker reads the copy again
// before acting on an old observation (SPEC §11).
func (p *Policy) ReadsCopyState() bool {
	return p.reads["progress"] || p.reads["status"] || p.readsAll
}

// ReadsCopyTags reports whether the policy's match reads the copy's tags
// (or may read any field).
func (p *Policy) ReadsCopyTags() bool { return p.reads["tags"] || p.readsAll }
