package policy

import (
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/policy/internal/index"
	"github.com/copyguard/copyguard/policy/internal/query"
)

// Trigger is the event a policy set is evaluated against.
type Trigger struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	// Data is the event's data object as decoded from JSON: numbers are
	// float64, objects map[string]any, arrays []any.
	Data map[string]any `json:"data"`
}

// Plan is what one trigger means for the inventory.
type Plan struct {
	// Version is the policy set's Version.
	Version string
	// Fired lists, in load order, the enabled policies whose `on` covers the
	// trigger type and whose `when` was true.
	Fired []string
	// Refused lists, in load order, the enabled cancel policies whose `on`
	// covers the trigger type but whose `sources` do not accept the
	// trigger's source: they did not fire.
	Refused []string
	// Decisions holds one entry per copy that any cancel policy selected,
	// sorted by (region, image_id).
	Decisions []Decision
	// Errors holds CEL runtime errors, at most MaxErrors of them (the first
	// in (policy, field, region, image_id) order); ErrorsDropped counts the
	// rest.
	Errors        []EvalError
	ErrorsDropped int
}

// Decision is the verdict for one copy.
type Decision struct {
	Copy cloud.Copy
	// Action is ActionCancel, ActionProtect (a protect policy vetoed),
	// ActionHold (max_cancels) or ActionPlan (only dry-run policies).
	Action Action
	// Policies are the cancel policies that selected the copy, sorted.
	Policies []string
	// Vetoed lists, for ActionProtect, the protect policies that matched.
	Vetoed []string
	// Reason says in words why, e.g.
	// `held: policy "x" selected 64 copies, max_cancels is 50`.
	Reason string
}

// EvalError is a CEL runtime error for one policy expression and, for
// match, one copy. That policy did not match that copy.
type EvalError struct {
	Policy, Field, ImageID, Region, Message string
}

// MaxErrors caps Plan.Errors so that a policy failing on 100,000 copies
// does not produce 100,000 errors.
const MaxErrors = 100

// EvalOption adjusts one evaluation.
type EvalOption func(*evalConfig)

type evalConfig struct {
	only map[string]bool
	// plain turns off the index and hoisting: every copy is run through
	// the match as written. Tests use it as the reference the fast path
	// must agree with.
	plain bool
}

// OnlyPolicies restricts the cancel policies to those named (the worker
// uses it to re-apply an active condition to a copy that started later).
// Protect policies all still apply.
func OnlyPolicies(names ...string) EvalOption {
	return func(c *evalConfig) {
		c.only = make(map[string]bool, len(names))
		for _, n := range names {
			c.only[n] = true
		}
	}
}

// activation binds the CEL variables. One is reused for every copy: only
// the copy pointer changes, and none of the three values allocates when
// handed to CEL.
type activation struct {
	trigger *triggerObj
	copy    *cloud.Copy
	now     ref.Val
	// hoisted holds the values of the current policy's hoisted
	// subexpressions.
	hoisted query.Bindings
	// frame is an execution frame over this activation, reused for every
	// unmetered evaluation: cel-go would otherwise take one from its pool
	// and return it for each of 100,000 copies. A copy of the activation
	// must reset it.
	frame *interpreter.ExecutionFrame
}

// input is what to hand to prg.Eval.
func (a *activation) input(prg cel.Program) any {
	if query.IsMetered(prg) {
		return a
	}
	if a.frame == nil {
		f, err := interpreter.NewExecutionFrame(a)
		if err != nil {
			return a
		}
		a.frame = f
	}
	return a.frame
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "copy":
		if a.copy == nil {
			return nil, false
		}
		return copyVal{a.copy}, true
	case "trigger":
		return a.trigger, true
	case "now":
		return a.now, true
	}
	if v, ok := a.hoisted.Resolve(name); ok {
		return v, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// EvaluateCopies evaluates against a plain list of copies (tests, the
// policy test command); it builds a temporary CopyIndex.
func (s *Set) EvaluateCopies(t Trigger, copies []cloud.Copy, now time.Time, opts ...EvalOption) *Plan {
	idx := NewCopyIndex()
	for _, c := range copies {
		idx.Put(c)
	}
	return s.Evaluate(t, idx, now, opts...)
}

// Evaluate decides what the trigger means for the copies in the index:
// which policies fire, which copies they select, and, per copy, cancel,
// protect, held or planned. It never fails: CEL runtime errors are
// collected in the Plan and count as "no match".
func (s *Set) Evaluate(t Trigger, copies *CopyIndex, now time.Time, opts ...EvalOption) *Plan {
	var cfg evalConfig
	for _, o := range opts {
		o(&cfg)
	}
	ev := &evaluation{
		idx:   copies.copies(),
		plain: cfg.plain,
		act:   activation{trigger: newTriggerObj(&t), now: types.Timestamp{Time: now}},
	}
	plan := &Plan{Version: s.version}
	var cancels, protects []*Policy
	for _, p := range s.policies {
		if !p.Enabled || !p.Listens(t.Type) {
			continue
		}
		if p.Action == ActionCancel && cfg.only != nil && !cfg.only[p.Name] {
			continue
		}
		if !p.Accepts(t.Source) {
			plan.Refused = append(plan.Refused, p.Name)
			continue
		}
		if !ev.when(p) {
			continue
		}
		plan.Fired = append(plan.Fired, p.Name)
		if p.Action == ActionProtect {
			protects = append(protects, p)
		} else {
			cancels = append(cancels, p)
		}
	}
	if len(cancels) > 0 && copies != nil {
		cr, pr := ev.prepare(cancels, protects)
		sel := ev.selectAll(cr)
		ev.veto(sel, pr)
		plan.Decisions = decide(sel, cancels)
	}
	plan.Errors, plan.ErrorsDropped = ev.errs.result()
	return plan
}

// evaluation is the state of one Evaluate call.
type evaluation struct {
	idx   *index.Copies
	plain bool
	act   activation
	errs  errorLog
	// selected maps each selected copy to its index in the selections.
	selected map[*cloud.Copy]int32
	// gen is the index generation the candidates were looked up at.
	gen uint64
}

func (ev *evaluation) when(p *Policy) bool {
	if p.when == nil {
		return true
	}
	out, _, err := p.when.Eval(&ev.act)
	if err != nil {
		ev.errs.add(EvalError{Policy: p.Name, Field: "when", Message: err.Error()})
		return false
	}
	b, ok := out.(types.Bool)
	return ok && bool(b)
}

// program readies ev.act to run m and returns the program; a nil m (no
// condition left after the index lookup) gives a nil program.
func (ev *evaluation) program(m *query.Matcher) cel.Program {
	if m == nil {
		return nil
	}
	ev.act.hoisted = query.Bindings{}
	prg, b := m.Bind(&ev.act, ev.plain)
	ev.act.hoisted = b
	return prg
}

// match runs a policy's program on one copy with the given activation; a
// nil program matches every copy.
func (ev *evaluation) match(p *Policy, prg cel.Program, c *cloud.Copy, act *activation, errs *errorLog) bool {
	if prg == nil {
		return true
	}
	act.copy = c
	out, _, err := prg.Eval(act.input(prg))
	act.copy = nil
	if err != nil {
		errs.add(EvalError{Policy: p.Name, Field: "match", ImageID: c.ImageID, Region: c.Region, Message: err.Error()})
		return false
	}
	b, ok := out.(types.Bool)
	return ok && bool(b)
}
