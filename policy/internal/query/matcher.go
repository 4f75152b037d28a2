package query

import (
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
)

// Matcher is a boolean expression run once per copy, compiled twice: as
// written (the reference), and with its trigger-only parts hoisted (what
// the evaluator runs).
type Matcher struct {
	prg     cel.Program
	hoisted *hoistedMatch // nil when nothing could be hoisted
}

// NewMatcher plans a checked match expression.
func NewMatcher(env *Envs, ast *cel.Ast) (*Matcher, error) {
	prg, err := Program(env.Match, ast)
	if err != nil {
		return nil, err
	}
	return &Matcher{prg: prg, hoisted: hoist(env, ast)}, nil
}

// Bind returns the program to run for the current trigger, and the values
// its variables beyond trigger, now and copy are bound to: the hoisted
// program with its subexpressions evaluated on act, or, when plain or
// nothing was hoisted, the expression as written with no bindings.
func (m *Matcher) Bind(act any, plain bool) (cel.Program, Bindings) {
	if m.hoisted == nil || plain {
		return m.prg, Bindings{}
	}
	return m.hoisted.prg, m.hoisted.bind(act)
}

// Hoisted reports whether any subexpression was hoisted (for tests and
// reports; results never depend on it).
func (m *Matcher) Hoisted() bool { return m.hoisted != nil }

// Metered reports whether the program as written, and the hoisted one
// when there is one, track their cost.
func (m *Matcher) Metered() (plain, hoisted bool) {
	plain = IsMetered(m.prg)
	if m.hoisted != nil {
		hoisted = IsMetered(m.hoisted.prg)
	}
	return plain, hoisted
}

// restMatcher compiles the match without one of its conjuncts. When the
// copies come from an index lookup on that conjunct, it is true for every
// one of them, and `true && rest` is exactly rest (errors included), so
// running rest gives the same answer without reading the field again.
// That matters: on a large inventory, each field read is a cache miss.
// It returns (nil, true) when nothing is left to check, and ok false when
// the rest does not compile on its own (the full match is used then).
func restMatcher(env *Envs, info *celast.SourceInfo, conj []celast.Expr, skip int) (m *Matcher, ok bool) {
	var parts []string
	for i, c := range conj {
		if i == skip {
			continue
		}
		src, err := cel.ExprToString(c, info)
		if err != nil {
			return nil, false
		}
		parts = append(parts, "("+src+")")
	}
	if len(parts) == 0 {
		return nil, true
	}
	ast, iss := env.Match.Compile(strings.Join(parts, " && "))
	if iss.Err() != nil || !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, false
	}
	m, err := NewMatcher(env, ast)
	if err != nil {
		return nil, false
	}
	return m, true
}
