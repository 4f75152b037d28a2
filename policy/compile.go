package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
	"go.yaml.in/yaml/v3"

	"github.com/copyguard/copyguard/policy/internal/query"
)

// maxExprSize bounds the length of one expression, in characters.
const maxExprSize = 10_000

// newEnvsWith builds the two CEL environments: `when` sees only trigger
// and now; `match` also sees copy.
// regex is the cache of compiled `matches` patterns the set shares.
func newEnvsWith(regex *regexCache) (*query.Envs, error) {
	base, err := cel.NewCustomEnv(regexLib(regex)...)
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
	return &query.Envs{When: when, Match: match}, nil
}

// expressions compiles when and match.
func (d *fieldDecoder) expressions(p *Policy) {
	env := d.fp.env
	if v := d.scalar("when"); v != nil {
		if ast := d.compile(env.When, v, "when"); ast != nil {
			p.When = v.Value
			p.when = d.program(env.When, ast, v, "when")
		}
	}
	v := d.scalar("match")
	if v == nil {
		if d.present("match") == nil {
			d.missing("match", "missing; every policy needs a match expression (use true to select every copy)")
		}
		return
	}
	ast := d.compile(env.Match, v, "match")
	if ast == nil {
		return
	}
	p.Match = v.Value
	m, err := query.NewMatcher(env, ast)
	if err != nil {
		d.fail(v, "match", "%s", lowerFirst(err.Error()))
		return
	}
	p.match = m
	p.terms = query.Terms(env, ast)
	p.reads, p.readsAll = query.CopyFields(ast)
}

func (d *fieldDecoder) program(env *cel.Env, ast *cel.Ast, n *yaml.Node, field string) cel.Program {
	prg, err := query.Program(env, ast)
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
