package query

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"cel.dev/cel-go/common/types"

	"github.com/copyguard/copyguard/cloud"
)

// TestHoistedAgreesWithPlain: for random triggers and copies, the hoisted
// program decides as the expression as written, errors included (an
// error must stay an error, and `false && error` must stay false).
func TestHoistedAgreesWithPlain(t *testing.T) {
	env := testEnvs(t)
	tests := []struct {
		match   string
		hoisted bool
	}{
		{`copy.tags["team"] == trigger.scope.tags["team"]`, true},
		{`copy.region in trigger.regions.map(r, string(r))`, true},
		{`trigger.regions.exists(r, r == copy.region) && copy.progress < 80`, true},
		{`copy.progress < trigger.max && copy.region == trigger.r`, true},
		{`trigger.flag == true || copy.progress > 90`, true},
		{`(trigger.max > 50 && copy.progress > 10) || copy.region == "r1"`, true},
		{`copy.tags.?team.orValue(trigger.?dflt.orValue("x")) == "web"`, true},
		{`trigger.?regions.orValue([]).all(r, type(r) == string) && copy.region in trigger.?regions.orValue([])`, true},
		// Nothing trigger-only beyond a bare variable: not worth a rewrite.
		{`copy.region == "r1"`, false},
		// A comprehension rebinding a variable name: left as written.
		{`[1].exists(trigger, trigger == 1) && copy.region == "r1"`, false},
		{`copy.tags.exists(copy, copy == trigger.r)`, false},
	}
	pick := func(rng *rand.Rand, xs ...any) any { return xs[rng.IntN(len(xs))] }
	for _, tt := range tests {
		t.Run(tt.match, func(t *testing.T) {
			m, err := NewMatcher(env, compileMatch(t, env, tt.match))
			if err != nil {
				t.Fatal(err)
			}
			if m.Hoisted() != tt.hoisted {
				t.Fatalf("hoisted %v, want %v", m.Hoisted(), tt.hoisted)
			}
			rng := rand.New(rand.NewPCG(3, uint64(len(tt.match))))
			for range 300 {
				data := map[string]any{}
				for k, v := range map[string]any{
					"scope":   pick(rng, map[string]any{"tags": map[string]any{"team": "web"}}, map[string]any{"tags": map[string]any{}}, map[string]any{}, "x"),
					"regions": pick(rng, []any{"r1", "r2"}, []any{"r1", 2.0}, []any{}, "r1"),
					"max":     pick(rng, 50.0, 20.0, "x", nil),
					"r":       pick(rng, "r1", "r2", 1.0),
					"flag":    pick(rng, true, false, "true"),
					"dflt":    pick(rng, "web", "x", 3.0),
				} {
					if rng.IntN(6) != 0 {
						data[k] = v
					}
				}
				c := &cloud.Copy{Region: fmt.Sprint(pick(rng, "r1", "r2")), Progress: rng.IntN(100), Tags: map[string]string{}}
				if rng.IntN(2) == 0 {
					c.Tags["team"] = fmt.Sprint(pick(rng, "web", "data"))
				}
				plain, pb := m.Bind(&act{trigger: data}, true)
				if pb.vars != nil {
					t.Fatal("a plain program came with bindings")
				}
				want := eval(plain, &act{trigger: data, copy: c})
				prg, b := m.Bind(&act{trigger: data}, false)
				got := eval(prg, &act{trigger: data, copy: c, b: b})
				if got != want {
					t.Fatalf("on %v and %+v: hoisted %s, as written %s", data, c, got, want)
				}
			}
		})
	}
}

func TestBindingsResolve(t *testing.T) {
	env := testEnvs(t)
	m, err := NewMatcher(env, compileMatch(t, env, `copy.region == trigger.a.b && copy.name == trigger.c.d`))
	if err != nil {
		t.Fatal(err)
	}
	_, b := m.Bind(&act{trigger: map[string]any{"a": map[string]any{"b": "x"}}}, false)
	if len(b.vars) != 2 {
		t.Fatalf("%d hoisted, want 2", len(b.vars))
	}
	if v, ok := b.Resolve(hoistPrefix + "h0"); !ok || v != types.String("x") {
		t.Errorf("h0 = %v %v", v, ok)
	}
	// A failing subexpression is bound to its error, not dropped.
	if v, ok := b.Resolve(hoistPrefix + "h1"); !ok || !types.IsError(v) {
		t.Errorf("h1 = %v %v, want an error value", v, ok)
	}
	for _, name := range []string{"trigger", hoistPrefix + "h2", ""} {
		if _, ok := b.Resolve(name); ok {
			t.Errorf("resolved %q", name)
		}
	}
	var none Bindings
	if _, ok := none.Resolve(hoistPrefix + "h0"); ok {
		t.Error("empty bindings resolved a name")
	}
}

// TestHoistPrefixInSourceIsNotRewritten: an expression that already uses
// a name with the hoisting prefix is never rewritten, so the rewrite can
// not capture it.
func TestHoistPrefixInSourceIsNotRewritten(t *testing.T) {
	env := testEnvs(t)
	ext, err := env.Match.Extend()
	if err != nil {
		t.Fatal(err)
	}
	e := &Envs{When: env.When, Match: ext}
	ast := compileMatch(t, e, `[1].exists(__cg_h0, __cg_h0 == 1) && copy.region == trigger.r.s`)
	if m, err := NewMatcher(e, ast); err != nil || m.Hoisted() {
		t.Errorf("hoisted %v, err %v", m != nil && m.Hoisted(), err)
	}
}

func TestProgramMetering(t *testing.T) {
	env := testEnvs(t)
	tests := []struct {
		match   string
		metered bool
	}{
		{`copy.region == "a"`, false},
		{`copy.tags.?team.orValue("") == "web"`, false},
		{`trigger.items.exists(i, i == copy.name)`, true},
		{`trigger.items.all(a, trigger.items.all(b, a == b))`, true},
	}
	for _, tt := range tests {
		prg, err := Program(env.Match, compileMatch(t, env, tt.match))
		if err != nil {
			t.Fatal(err)
		}
		if IsMetered(prg) != tt.metered {
			t.Errorf("%s: metered %v, want %v", tt.match, IsMetered(prg), tt.metered)
		}
	}
}

// TestMeteredStopsRunaway: the cost limit applies to a metered program.
func TestMeteredStopsRunaway(t *testing.T) {
	env := testEnvs(t)
	prg, err := Program(env.Match, compileMatch(t, env, `trigger.items.all(a, trigger.items.all(b, trigger.items.all(c, a + b + c >= 0.0)))`))
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 100)
	for i := range items {
		items[i] = float64(i)
	}
	_, _, err = prg.Eval(&act{trigger: map[string]any{"items": items}})
	if err == nil {
		t.Fatal("a million steps ran to the end")
	}
}
