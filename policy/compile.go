package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"go.yaml.in/yaml/v3"
)

const (
	// costLimit bounds one evaluation of one expression (for one copy).
	// Ordinary policies cost well under 100; the limit only stops
	// pathological ones (nested comprehensions over trigger data, runaway
	// string building) from stalling the worker.
	costLimit = 100_000
	// maxExprSize bounds the length of one expression, in characters.
	maxExprSize = 10_000
)

// envs holds the two CEL environments: `when` sees only trigger and now;
// `match` also sees copy.
type envs struct {
	when, match *cel.Env
}

func newEnvs() (*envs, error) {
	base, err := cel.NewEnv()
	if err != nil {
		return nil, err
	}
	when, err := base.Extend(
		cel.Variable("trigger", triggerType),
		cel.Variable("now", cel.TimestampType),
		// Without this, `copy.progress < 90.5` is a type error; JSON numbers
		// in trigger.data are doubles and compare with ints regardless.
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		// Macro call tracking lets parts of a checked expression be turned
		// back into source (hoist.go, indexterm.go, matcher.go), macros
		// such as exists() included.
		cel.EnableMacroCallTracking(),
		cel.DefaultUTCTimeZone(true),
		ext.Strings(),
		cel.ParserExpressionSizeLimit(maxExprSize),
		// Last, so that it wraps the provider the options above registered
		// their types with.
		func(e *cel.Env) (*cel.Env, error) {
			return cel.CustomTypeProvider(newObjectTypes(e.CELTypeProvider()))(e)
		},
	)
	if err != nil {
		return nil, err
	}
	match, err := when.Extend(cel.Variable("copy", copyType))
	if err != nil {
		return nil, err
	}
	return &envs{when: when, match: match}, nil
}

// program plans an expression. Metering the cost of every evaluation
// costs about a third of the evaluation itself, so it is only switched on
// for expressions whose static worst case exceeds the limit (comprehensions
// and heavy string functions over input data); the others are bounded
// already.
func program(env *cel.Env, ast *cel.Ast) (cel.Program, error) {
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	est, err := env.EstimateCost(ast, inputBounds{})
	if err == nil && est.Max <= costLimit {
		return env.Program(ast, opts...)
	}
	prg, err := env.Program(ast, append(opts, cel.CostLimit(costLimit))...)
	if err != nil {
		return nil, err
	}
	return metered{prg}, nil
}

// metered marks a program that tracks its cost. It must be given a fresh
// execution frame on every evaluation (the tracker lives in the frame), so
// it is never handed the reusable frame of an activation.
type metered struct{ cel.Program }

// maxInputSize bounds every string, list and map an expression reads: a
// trigger's data is at most one event body (64 KiB by default), and copy
// fields and tags are far smaller.
const maxInputSize = 64 << 10

// inputBounds tells the cost estimator how large inputs can be.
type inputBounds struct{}

func (inputBounds) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	switch n.Type().Kind() {
	case types.StringKind, types.BytesKind, types.ListKind, types.MapKind, types.DynKind:
		return &cost.SizeEstimate{Min: 0, Max: maxInputSize}
	}
	return nil
}

// EstimateCallCost prices the optional-value functions, which the
// standard estimator leaves unbounded, as the constant-time calls they are.
func (inputBounds) EstimateCallCost(fn, _ string, _ *cost.AstNode, _ []cost.AstNode) *cost.CallEstimate {
	switch fn {
	case "orValue", "or", "hasValue", "value", "optional.of", "optional.ofNonZeroValue", "optional.none",
		operators.OptSelect, operators.OptIndex:
		size := cost.SizeEstimate{Min: 0, Max: maxInputSize}
		return cost.NewCallEstimate(cost.FixedCostEstimate(1), &size)
	}
	return nil
}

// expressions compiles when and match.
func (d *fieldDecoder) expressions(p *Policy) {
	env := d.fp.env
	if v := d.scalar("when"); v != nil {
		if ast := d.compile(env.when, v, "when"); ast != nil {
			p.When = v.Value
			p.when = d.program(env.when, ast, v, "when")
		}
	}
	v := d.scalar("match")
	if v == nil {
		if d.present("match") == nil {
			d.missing("match", "missing; every policy needs a match expression (use true to select every copy)")
		}
		return
	}
	ast := d.compile(env.match, v, "match")
	if ast == nil {
		return
	}
	p.Match = v.Value
	m, err := newMatcher(env, ast)
	if err != nil {
		d.fail(v, "match", "%s", lowerFirst(err.Error()))
		return
	}
	p.match = m
	p.terms = indexTerms(env, ast)
}

func (d *fieldDecoder) program(env *cel.Env, ast *cel.Ast, n *yaml.Node, field string) cel.Program {
	prg, err := program(env, ast)
	if err != nil {
		d.fail(n, field, "%s", lowerFirst(err.Error()))
		return nil
	}
	return prg
}

// compile parses and type-checks one expression, reporting each CEL issue
// at its own position in the file.
func (d *fieldDecoder) compile(env *cel.Env, n *yaml.Node, field string) *cel.Ast {
	if strings.TrimSpace(n.Value) == "" {
		d.fail(n, field, "empty expression")
		return nil
	}
	ast, iss := env.Compile(n.Value)
	if iss.Err() != nil {
		for _, e := range iss.Errors() {
			line, col := d.fp.txt.exprPosition(n, e.Location.Line(), e.Location.Column())
			d.fp.problems = append(d.fp.problems, Problem{File: d.fp.file, Line: line, Col: col,
				Policy: d.pc.name, Index: d.pc.indexIfUnnamed(), Field: field, Message: celMessage(field, e.Message)})
		}
		d.ok = false
		return nil
	}
	if out := ast.OutputType(); !out.IsExactType(cel.BoolType) {
		hint := ""
		if out.IsExactType(cel.DynType) {
			hint = " (compare it, e.g. `... == true`)"
		}
		d.fail(n, field, "must be a bool expression, got %s%s", cel.FormatCELType(out), hint)
		return nil
	}
	return ast
}

func (pc *policyCtx) indexIfUnnamed() int {
	if pc.name != "" {
		return 0
	}
	return pc.index
}

// celMessage turns a cel-go message into ours: lowercase, and with a
// useful word when `when` reaches for a copy.
func celMessage(field, msg string) string {
	if field == "when" && strings.Contains(msg, "undeclared reference to 'copy'") {
		return "cannot use copy: when is evaluated once per trigger, before any copy; move copy conditions to match"
	}
	return lowerFirst(msg)
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsUpper(r) {
		return s
	}
	// Leave acronyms such as "CEL" alone.
	if r2, _ := utf8.DecodeRuneInString(s[n:]); unicode.IsUpper(r2) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}
