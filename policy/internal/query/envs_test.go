package query

import (
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/copyguard/copyguard/cloud"
)

// testEnvs is a small stand-in for the policy package's environments:
// trigger is dyn and copy a map, which is enough for the planner, since it
// looks at the shape of expressions, not at the object types.
func testEnvs(tb testing.TB) *Envs {
	tb.Helper()
	when, err := cel.NewEnv(
		cel.Variable("trigger", cel.DynType),
		cel.Variable("now", cel.TimestampType),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		cel.EnableMacroCallTracking(),
	)
	if err != nil {
		tb.Fatal(err)
	}
	match, err := when.Extend(cel.Variable("copy", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		tb.Fatal(err)
	}
	return &Envs{When: when, Match: match}
}

func compileMatch(tb testing.TB, env *Envs, src string) *cel.Ast {
	tb.Helper()
	ast, iss := env.Match.Compile(src)
	if iss.Err() != nil {
		tb.Fatalf("%s: %v", src, iss.Err())
	}
	return ast
}

// act binds trigger, copy and the hoisted variables, the way the policy
// package's activation does.
type act struct {
	trigger any
	copy    *cloud.Copy
	b       Bindings
}

func (a *act) ResolveName(name string) (any, bool) {
	switch name {
	case "trigger":
		return a.trigger, true
	case "now":
		return types.Timestamp{}, true
	case "copy":
		if a.copy == nil {
			return nil, false
		}
		return copyMap(a.copy), true
	}
	if v, ok := a.b.Resolve(name); ok {
		return v, true
	}
	return nil, false
}

func (a *act) Parent() interpreter.Activation { return nil }

func copyMap(c *cloud.Copy) map[string]any {
	tags := map[string]any{}
	for k, v := range c.Tags {
		tags[k] = v
	}
	return map[string]any{"region": c.Region, "image_id": c.ImageID, "progress": int64(c.Progress), "name": c.Name, "tags": tags}
}

// eval runs prg and folds the outcome into a comparable string: a bool,
// or "error" (the message may differ between two equivalent programs).
func eval(prg cel.Program, a *act) string {
	out, _, err := prg.Eval(a)
	if err != nil {
		return "error"
	}
	if b, ok := out.(types.Bool); ok {
		if b {
			return "true"
		}
		return "false"
	}
	return "non-bool " + out.Type().(ref.Type).TypeName()
}
