package policy

import (
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
)

// matcher is a boolean expression run once per copy, compiled twice: as
// written (the reference), and with its trigger-only parts hoisted (what
// Evaluate runs).
type matcher struct {
	prg     cel.Program
	hoisted *hoistedMatch // nil when nothing could be hoisted
}

func newMatcher(env *envs, ast *cel.Ast) (*matcher, error) {
	prg, err := program(env.match, ast)
	if err != nil {
		return nil, err
	}
	return &matcher{prg: prg, hoisted: hoist(env, ast)}, nil
}

// bind readies act to run m for the current trigger and returns the
// program to run: the hoisted one with its values bound, or, when plain
// or nothing was hoisted, the expression as written.
func (m *matcher) bind(act *activation, plain bool) cel.Program {
	act.hoisted, act.hoistNames = nil, nil
	if m.hoisted == nil || plain {
		return m.prg
	}
	act.hoisted, act.hoistNames = m.hoisted.bind(act), m.hoisted.vars
	return m.hoisted.prg
}

// restMatcher compiles the match without one of its conjuncts. When the
// copies come from an index lookup on that conjunct, it is true for every
// one of them, and `true && rest` is exactly rest (errors included), so
// running rest gives the same answer without reading the field again.
// That matters: on a large inventory, each field read is a cache miss.
// It returns (nil, true) when nothing is left to check, and ok false when
// the rest does not compile on its own (the full match is used then).
func restMatcher(env *envs, info *celast.SourceInfo, conj []celast.Expr, skip int) (m *matcher, ok bool) {
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
	ast, iss := env.match.Compile(strings.Join(parts, " && "))
	if iss.Err() != nil || !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, false
	}
	m, err := newMatcher(env, ast)
	if err != nil {
		return nil, false
	}
	return m, true
}
