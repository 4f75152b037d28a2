package query

import (
	"slices"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/policy/internal/index"
)

// Term is a top-level conjunct of a match that pins a copy field to
// values computed from the trigger alone: `copy.region == trigger.data.region`,
// `copy.tags["cost-center"] == "cc-1"`, `copy.region in ["a", "b"]`, in either
// operand order for ==.
//
// Because it is a conjunct, a copy whose field is not one of those values
// cannot match (the conjunct is false or an error, and neither makes `&&`
// true), so the evaluator may look candidates up in the index instead of
// running the match on every copy. The full match still runs on every candidate:
// terms only narrow, they never decide.
type Term struct {
	// Key is the copy field the term pins.
	Key index.Key
	// OrValue is set for copy.tags.?k.orValue(d): a copy without the tag
	// then compares as d, so the term is only usable when d is not among
	// the values.
	OrValue *string
	In      bool // `in` a list rather than ==
	rhs     cel.Program
	Src     string // the right-hand side, unparsed, for tests and reports
	// Rest is the match without this conjunct, run on copies looked up by
	// this term; RestTrue says nothing is left to check; with neither,
	// the full match runs. See restMatcher.
	Rest     *Matcher
	RestTrue bool
}

// Terms finds the index terms of a checked match expression, in the order
// of its conjuncts. Their right-hand sides are compiled on their own in
// the environment without `copy`.
func Terms(env *Envs, ast *cel.Ast) []Term {
	native := ast.NativeRep()
	var conj []celast.Expr
	flattenAnd(native.Expr(), &conj)
	var out []Term
	for ci, c := range conj {
		if c.Kind() != celast.CallKind {
			continue
		}
		call := c.AsCall()
		args := call.Args()
		if len(args) != 2 {
			continue
		}
		var pairs [][2]celast.Expr
		switch call.FunctionName() {
		case operators.Equals:
			pairs = [][2]celast.Expr{{args[0], args[1]}, {args[1], args[0]}}
		case operators.In:
			pairs = [][2]celast.Expr{{args[0], args[1]}}
		default:
			continue
		}
		for _, pr := range pairs {
			field, tag, orValue, ok := copyFieldOr(pr[0])
			if !ok || mentionsCopy(pr[1]) {
				continue
			}
			t, ok := compileTerm(env.When, native.SourceInfo(), pr[1], call.FunctionName() == operators.In)
			if ok {
				t.Key, t.OrValue = index.Key{Field: field, Tag: tag}, orValue
				if rest, ok := restMatcher(env, native.SourceInfo(), conj, ci); ok {
					t.Rest, t.RestTrue = rest, rest == nil
				}
				out = append(out, t)
				break
			}
		}
	}
	return out
}

func flattenAnd(e celast.Expr, out *[]celast.Expr) {
	if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
		for _, a := range e.AsCall().Args() {
			flattenAnd(a, out)
		}
		return
	}
	*out = append(*out, e)
}

// copyFieldOr recognises what copyField does, and also
// copy.tags.?k.orValue("d") and copy.tags[?"k"].orValue("d"), the forms
// that do not fail on a copy without the tag.
func copyFieldOr(e celast.Expr) (index.Field, string, *string, bool) {
	if e.Kind() != celast.CallKind {
		f, tag, ok := copyField(e)
		return f, tag, nil, ok
	}
	call := e.AsCall()
	if call.FunctionName() != "orValue" || !call.IsMemberFunction() || len(call.Args()) != 1 {
		f, tag, ok := copyField(e)
		return f, tag, nil, ok
	}
	def, ok := stringLiteral(call.Args()[0])
	opt := call.Target()
	if !ok || opt.Kind() != celast.CallKind {
		return 0, "", nil, false
	}
	oc := opt.AsCall()
	if (oc.FunctionName() != operators.OptSelect && oc.FunctionName() != operators.OptIndex) ||
		len(oc.Args()) != 2 || !isCopyTags(oc.Args()[0]) {
		return 0, "", nil, false
	}
	key, ok := stringLiteral(oc.Args()[1])
	if !ok {
		return 0, "", nil, false
	}
	return index.Tag, key, &def, true
}

func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// copyField recognises copy.region, copy.image_id, copy.tags["k"] and
// copy.tags.k.
func copyField(e celast.Expr) (index.Field, string, bool) {
	switch e.Kind() {
	case celast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return 0, "", false
		}
		if isCopy(sel.Operand()) {
			switch sel.FieldName() {
			case "region":
				return index.Region, "", true
			case "image_id":
				return index.ImageID, "", true
			}
			return 0, "", false
		}
		if isCopyTags(sel.Operand()) {
			return index.Tag, sel.FieldName(), true
		}
	case celast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != operators.Index || len(call.Args()) != 2 || !isCopyTags(call.Args()[0]) {
			return 0, "", false
		}
		if k, ok := stringLiteral(call.Args()[1]); ok {
			return index.Tag, k, true
		}
	}
	return 0, "", false
}

func isCopy(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "copy" }

func isCopyTags(e celast.Expr) bool {
	if e.Kind() != celast.SelectKind {
		return false
	}
	sel := e.AsSelect()
	return !sel.IsTestOnly() && sel.FieldName() == "tags" && isCopy(sel.Operand())
}

// mentionsCopy is conservative: any identifier named copy, even a
// comprehension variable, disqualifies the expression.
func mentionsCopy(e celast.Expr) bool {
	found := false
	celast.PreOrderVisit(e, celast.NewExprVisitor(func(x celast.Expr) {
		if x.Kind() == celast.IdentKind && x.AsIdent() == "copy" {
			found = true
		}
		if x.Kind() == celast.ComprehensionKind {
			c := x.AsComprehension()
			if c.IterVar() == "copy" || c.IterVar2() == "copy" || c.AccuVar() == "copy" {
				found = true
			}
		}
	}))
	return found
}

// compileTerm compiles a right-hand side on its own. Unparsing and
// recompiling keeps the program independent of the match's AST; anything
// that does not round-trip simply is not indexed.
func compileTerm(env *cel.Env, info *celast.SourceInfo, rhs celast.Expr, in bool) (Term, bool) {
	src, err := cel.ExprToString(rhs, info)
	if err != nil {
		return Term{}, false
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return Term{}, false
	}
	out := ast.OutputType()
	switch {
	case out.IsExactType(cel.DynType):
	case !in && out.IsExactType(cel.StringType):
	case in && (out.IsExactType(cel.ListType(cel.StringType)) || out.IsExactType(cel.ListType(cel.DynType))):
	default:
		return Term{}, false
	}
	prg, err := Program(env, ast)
	if err != nil {
		return Term{}, false
	}
	return Term{In: in, rhs: prg, Src: src}, true
}

// Values is what an index term evaluated to for one trigger.
type Values struct {
	Term *Term
	// Values are the strings the field may equal; empty with ok means
	// nothing can match.
	Values []string
	// Err is set when the right-hand side failed: then the conjunct, and
	// so the whole match, fails for every copy.
	Err error
}

// Eval computes a term's values on the activation act. ok is false when
// the result is not something the index understands (say, a list holding
// a number); the term is then ignored and correctness is kept by running
// the full match.
func (t *Term) Eval(act any) (tv Values, ok bool) {
	tv.Term = t
	defer func() {
		if ok && t.OrValue != nil && slices.Contains(tv.Values, *t.OrValue) {
			ok = false // copies without the tag match too: no narrowing
		}
	}()
	out, _, err := t.rhs.Eval(act)
	if err != nil {
		tv.Err = err
		return tv, true
	}
	switch v := out.(type) {
	case types.String:
		if t.In {
			return tv, false // `x in "str"` is not a membership test we index
		}
		tv.Values = []string{string(v)}
		return tv, true
	case traits.Lister:
		if !t.In {
			// A string never equals a list: the conjunct is false for all.
			return tv, true
		}
		return listValues(tv, v)
	}
	if t.In {
		return tv, false
	}
	// Comparing a string with a non-string (number, bool, map) is false
	// under CEL's heterogeneous equality, for every copy.
	return tv, isPlainValue(out)
}

func listValues(tv Values, l traits.Lister) (Values, bool) {
	n, ok := l.Size().(types.Int)
	if !ok {
		return tv, false
	}
	for i := types.Int(0); i < n; i++ {
		switch e := l.Get(i).(type) {
		case types.String:
			tv.Values = append(tv.Values, string(e))
		default:
			if !isPlainValue(e) {
				return tv, false
			}
			// A non-string element can never equal a string field; skip it.
		}
	}
	return tv, true
}

// isPlainValue reports whether a value is a plain, comparable non-string
// CEL value, for which string equality is simply false.
func isPlainValue(v ref.Val) bool {
	switch v.(type) {
	case types.Int, types.Uint, types.Double, types.Bool, types.Null, types.Bytes,
		types.Timestamp, types.Duration, traits.Mapper:
		return true
	}
	return false
}

// Passes checks index terms natively: a copy that fails one cannot match,
// and this costs nanoseconds where CEL costs hundreds.
func Passes(c *cloud.Copy, filters []Values) bool {
	for i := range filters {
		f := &filters[i]
		v, ok := f.Term.Key.Value(c)
		if !ok || !slices.Contains(f.Values, v) {
			return false
		}
	}
	return true
}
