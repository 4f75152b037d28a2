package query

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// hoistPrefix names the variables that stand for hoisted subexpressions.
// CEL reserves names with leading underscores for internal use, and an
// expression that uses this prefix anyway is simply not rewritten.
const hoistPrefix = "__cg_"

// hoisted is a subexpression of a match that depends on the trigger (and
// now) only. It is computed once per trigger and bound as a variable,
// instead of once per copy: `copy.tags["team"] == trigger.data.scope.tags["team"]`
// then costs one map lookup per copy, not four.
type hoisted struct {
	name string
	prg  cel.Program
}

// hoistedMatch is a match rewritten with its trigger-only subexpressions
// replaced by variables.
type hoistedMatch struct {
	prg  cel.Program
	vars []hoisted
}

// hoist rewrites a checked match. It returns nil when there is nothing to
// hoist or anything about the rewrite fails; the caller then keeps the
// original program, which is always correct.
func hoist(env *Envs, ast *cel.Ast) *hoistedMatch {
	native := ast.NativeRep()
	if shadowsVariables(native.Expr()) {
		return nil
	}
	expr := celast.NewExprFactory().CopyExpr(native.Expr())
	h := &hoister{env: env, types: native.TypeMap(), info: native.SourceInfo(), replaced: map[int64]string{}}
	h.visit(expr)
	if h.failed || len(h.vars) == 0 {
		return nil
	}
	// Macros (exists, all, ...) are turned back into source from their
	// recorded calls, which hold their own copies of the arguments: make
	// the same replacements there.
	info := celast.CopySourceInfo(native.SourceInfo())
	for _, call := range info.MacroCalls() {
		celast.PreOrderVisit(call, celast.NewExprVisitor(func(x celast.Expr) {
			if name, ok := h.replaced[x.ID()]; ok {
				x.SetKindCase(celast.NewExprFactory().NewIdent(x.ID(), name))
			}
		}))
	}
	src, err := cel.ExprToString(expr, info)
	if err != nil {
		return nil
	}
	opts := make([]cel.EnvOption, len(h.vars))
	for i, v := range h.vars {
		opts[i] = cel.Variable(v.name, h.varTypes[i])
	}
	ext, err := env.Match.Extend(opts...)
	if err != nil {
		return nil
	}
	rewritten, iss := ext.Compile(src)
	if iss.Err() != nil || !rewritten.OutputType().IsExactType(cel.BoolType) {
		return nil
	}
	prg, err := Program(ext, rewritten)
	if err != nil {
		return nil
	}
	return &hoistedMatch{prg: prg, vars: h.vars}
}

type hoister struct {
	env      *Envs
	types    map[int64]*types.Type
	info     *celast.SourceInfo
	vars     []hoisted
	varTypes []*types.Type
	replaced map[int64]string // expression id → variable name
	failed   bool
}

// visit replaces the maximal trigger-only subtrees of e, top down.
func (h *hoister) visit(e celast.Expr) {
	if worthHoisting(e) {
		if uses, only := triggerOnly(e); only && uses {
			h.replace(e)
			return
		}
	}
	for _, c := range children(e) {
		h.visit(c)
	}
}

func (h *hoister) replace(e celast.Expr) {
	t, ok := h.types[e.ID()]
	if !ok {
		h.failed = true
		return
	}
	src, err := cel.ExprToString(e, h.info)
	if err != nil {
		h.failed = true
		return
	}
	ast, iss := h.env.When.Compile(src)
	if iss.Err() != nil {
		h.failed = true
		return
	}
	prg, err := Program(h.env.When, ast)
	if err != nil {
		h.failed = true
		return
	}
	name := fmt.Sprintf("%sh%d", hoistPrefix, len(h.vars))
	h.vars = append(h.vars, hoisted{name: name, prg: prg})
	h.varTypes = append(h.varTypes, t)
	h.replaced[e.ID()] = name
	e.SetKindCase(celast.NewExprFactory().NewIdent(e.ID(), name))
}

// worthHoisting leaves out leaves: a bare variable or literal costs
// nothing to evaluate.
func worthHoisting(e celast.Expr) bool {
	switch e.Kind() {
	case celast.IdentKind, celast.LiteralKind, celast.UnspecifiedExprKind:
		return false
	}
	return true
}

// triggerOnly reports whether every identifier under e is trigger, now,
// or a variable of a comprehension under e (only), and whether trigger or
// now is used at all (uses). A free variable that merely shares a name
// with an inner comprehension's makes the separate compile in replace
// fail, which cancels the rewrite: never a wrong result.
func triggerOnly(e celast.Expr) (uses, only bool) {
	bound := map[string]bool{}
	celast.PreOrderVisit(e, celast.NewExprVisitor(func(x celast.Expr) {
		if x.Kind() == celast.ComprehensionKind {
			c := x.AsComprehension()
			bound[c.IterVar()], bound[c.AccuVar()] = true, true
			if c.HasIterVar2() {
				bound[c.IterVar2()] = true
			}
		}
	}))
	only = true
	celast.PreOrderVisit(e, celast.NewExprVisitor(func(x celast.Expr) {
		if x.Kind() != celast.IdentKind {
			return
		}
		switch name := x.AsIdent(); {
		case name == "trigger" || name == "now":
			uses = true
		case !bound[name]:
			only = false
		}
	}))
	return uses, only
}

// shadowsVariables reports whether a comprehension rebinds one of the
// variable names, or the expression already uses the hoisting prefix; the
// rewrite relies on neither happening.
func shadowsVariables(e celast.Expr) bool {
	found := false
	celast.PreOrderVisit(e, celast.NewExprVisitor(func(x celast.Expr) {
		switch x.Kind() {
		case celast.IdentKind:
			found = found || strings.HasPrefix(x.AsIdent(), hoistPrefix)
		case celast.ComprehensionKind:
			c := x.AsComprehension()
			for _, v := range []string{c.IterVar(), c.IterVar2(), c.AccuVar()} {
				found = found || v == "trigger" || v == "now" || v == "copy" || strings.HasPrefix(v, hoistPrefix)
			}
		}
	}))
	return found
}

func children(e celast.Expr) []celast.Expr {
	switch e.Kind() {
	case celast.CallKind:
		c := e.AsCall()
		out := append([]celast.Expr(nil), c.Args()...)
		if c.IsMemberFunction() {
			out = append(out, c.Target())
		}
		return out
	case celast.SelectKind:
		return []celast.Expr{e.AsSelect().Operand()}
	case celast.ListKind:
		return e.AsList().Elements()
	case celast.MapKind:
		var out []celast.Expr
		for _, en := range e.AsMap().Entries() {
			out = append(out, en.AsMapEntry().Key(), en.AsMapEntry().Value())
		}
		return out
	case celast.StructKind:
		var out []celast.Expr
		for _, f := range e.AsStruct().Fields() {
			out = append(out, f.AsStructField().Value())
		}
		return out
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		return []celast.Expr{c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()}
	}
	return nil
}

// bind evaluates the hoisted subexpressions for one trigger. A failing one
// is bound to its error value, which then behaves in the match exactly as
// the subexpression would have (for instance `false && error` is false).
func (m *hoistedMatch) bind(act any) Bindings {
	vals := make([]ref.Val, len(m.vars))
	for i, v := range m.vars {
		out, _, err := v.prg.Eval(act)
		switch {
		case err != nil && out == nil:
			vals[i] = types.WrapErr(err)
		default:
			vals[i] = out
		}
	}
	return Bindings{vars: m.vars, vals: vals}
}

// Bindings are the values of a match's hoisted subexpressions for one
// trigger; the activation the match runs on resolves their names here.
type Bindings struct {
	vars []hoisted
	vals []ref.Val
}

// Resolve returns the value bound to a hoisted variable's name.
func (b *Bindings) Resolve(name string) (ref.Val, bool) {
	for i := range b.vars {
		if b.vars[i].name == name {
			return b.vals[i], true
		}
	}
	return nil, false
}
