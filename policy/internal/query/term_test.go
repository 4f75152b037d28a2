package query

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/policy/internal/index"
)

func termsOf(tb testing.TB, env *Envs, match string) []Term {
	tb.Helper()
	return Terms(env, compileMatch(tb, env, match))
}

// TestTermsDoNotNarrowNegations lists conjuncts that mention an indexed
// field but do not pin it: narrowing by any of them would drop copies
// the match selects.
func TestTermsDoNotNarrowNegations(t *testing.T) {
	env := testEnvs(t)
	for _, match := range []string{
		`!(copy.region == "a")`,
		`copy.region != "a"`,
		`!(copy.region in ["a", "b"])`,
		`(copy.region == "a") == false`,
		`copy.region == "a" || copy.progress > 5`,
		`trigger.x ? copy.region == "a" : true`,
		`[copy.region == "a"].exists(b, b)`,
		`copy.region < "b"`,
		`"a" in copy.tags`,
		`copy.tags.exists(k, k == "a")`,
		`has(copy.tags.team) && copy.region.startsWith("a")`,
		`copy.tags[trigger.key] == "a"`,             // the tag key is not a literal
		`copy.tags.?team.orValue(trigger.d) == "a"`, // nor the default
		`copy.tags.?team.value() == "a"`,
		`copy.region == copy.name`,
		`copy["region"] == "a"`,
	} {
		if terms := termsOf(t, env, match); len(terms) != 0 {
			t.Errorf("%s: narrowed by %s %q", match, terms[0].Key.Field, terms[0].Src)
		}
	}
}

// TestTermsFound checks the shapes that do narrow, with the key and the
// right-hand side each term carries.
func TestTermsFound(t *testing.T) {
	env := testEnvs(t)
	tests := []struct {
		match string
		want  []string
	}{
		{`copy.region == "a"`, []string{`region == "a"`}},
		{`"a" == copy.region`, []string{`region == "a"`}},
		{`copy.image_id in trigger.ids`, []string{`image_id in trigger.ids`}},
		{`copy.tags.team == trigger.team`, []string{`tags[team] == trigger.team`}},
		{`copy.tags["cost-center"] == "x"`, []string{`tags[cost-center] == "x"`}},
		{`copy.tags[?"env"].orValue("dev") == "prod"`, []string{`tags[env]|dev == "prod"`}},
		{`copy.progress > 1 && (copy.region == "a" && copy.tags.t in ["x"])`, []string{`region == "a"`, `tags[t] in ["x"]`}},
		// Both operands are the copy's: the first order that works wins,
		// which here is none.
		{`copy.region == copy.tags.home`, nil},
		// A comprehension variable named like the copy disqualifies the side.
		{`copy.region == [1].map(copy, "a")[0]`, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, term := range termsOf(t, env, tt.match) {
			s := term.Key.Field.String()
			if term.Key.Field == index.Tag {
				s += "[" + term.Key.Tag + "]"
				if term.OrValue != nil {
					s += "|" + *term.OrValue
				}
			}
			op := " == "
			if term.In {
				op = " in "
			}
			got = append(got, s+op+term.Src)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.match, got, tt.want)
		}
	}
}

// TestTermEval covers every kind of value a right-hand side can produce.
func TestTermEval(t *testing.T) {
	env := testEnvs(t)
	tests := []struct {
		name   string
		match  string
		data   map[string]any
		values []string
		usable bool
		err    bool
	}{
		{"string", `copy.region == trigger.r`, map[string]any{"r": "a"}, []string{"a"}, true, false},
		{"missing key fails", `copy.region == trigger.r`, map[string]any{}, nil, true, true},
		{"number never equals", `copy.region == trigger.r`, map[string]any{"r": 1.0}, nil, true, false},
		{"null never equals", `copy.region == trigger.r`, map[string]any{"r": nil}, nil, true, false},
		{"bool never equals", `copy.region == trigger.r`, map[string]any{"r": true}, nil, true, false},
		{"map never equals", `copy.region == trigger.r`, map[string]any{"r": map[string]any{}}, nil, true, false},
		{"list never equals", `copy.region == trigger.r`, map[string]any{"r": []any{"a"}}, nil, true, false},
		{"list", `copy.region in trigger.l`, map[string]any{"l": []any{"a", "b"}}, []string{"a", "b"}, true, false},
		{"empty list", `copy.region in trigger.l`, map[string]any{"l": []any{}}, nil, true, false},
		{"numbers skipped", `copy.region in trigger.l`, map[string]any{"l": []any{"a", 1.0, nil, true}}, []string{"a"}, true, false},
		{"map element skipped", `copy.region in trigger.l`, map[string]any{"l": []any{map[string]any{"a": 1.0}, "b"}}, []string{"b"}, true, false},
		{"nested list not understood", `copy.region in trigger.l`, map[string]any{"l": []any{[]any{"a"}, "b"}}, nil, false, false},
		{"in a string not understood", `copy.region in trigger.l`, map[string]any{"l": "abc"}, nil, false, false},
		{"in a map not understood", `copy.region in trigger.l`, map[string]any{"l": map[string]any{"a": 1.0}}, nil, false, false},
		{"in a number not understood", `copy.region in trigger.l`, map[string]any{"l": 3.0}, nil, false, false},
		{"in missing fails", `copy.region in trigger.l`, map[string]any{}, nil, true, true},
		{"default not among values", `copy.tags.?t.orValue("d") == trigger.r`, map[string]any{"r": "a"}, []string{"a"}, true, false},
		{"default among values", `copy.tags.?t.orValue("d") == trigger.r`, map[string]any{"r": "d"}, []string{"d"}, false, false},
		{"default in a list", `copy.tags.?t.orValue("") in trigger.l`, map[string]any{"l": []any{"a", ""}}, []string{"a", ""}, false, false},
		{"default and error", `copy.tags.?t.orValue("") == trigger.r`, map[string]any{}, nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			terms := termsOf(t, env, tt.match)
			if len(terms) != 1 {
				t.Fatalf("%d terms", len(terms))
			}
			tv, usable := terms[0].Eval(&act{trigger: tt.data})
			if usable != tt.usable || (tv.Err != nil) != tt.err {
				t.Fatalf("usable %v err %v, want %v %v", usable, tv.Err, tt.usable, tt.err)
			}
			if usable && !slices.Equal(tv.Values, tt.values) {
				t.Errorf("values %q, want %q", tv.Values, tt.values)
			}
			if tv.Term != &terms[0] {
				t.Error("values do not point at their term")
			}
		})
	}
}

// TestTermsNarrowSoundly is the property behind narrowing: for random
// copies and triggers, a copy whose field is not among a usable term's
// values never matches, a failing term means every copy fails, and the
// term's rest decides exactly as the full match on the copies that pass.
func TestTermsNarrowSoundly(t *testing.T) {
	env := testEnvs(t)
	matches := []string{
		`copy.region == trigger.r`,
		`copy.region == trigger.r && copy.progress < 50`,
		`copy.progress < 50 && trigger.r == copy.region && copy.tags.team == trigger.team`,
		`copy.region in trigger.l && copy.tags[?"env"].orValue("") in ["prod", trigger.env]`,
		`copy.tags.?team.orValue("web") == trigger.team && copy.image_id in [trigger.r, "m-1"]`,
		`copy.region in trigger.l.map(x, string(x)) && trigger.l.all(x, type(x) == string)`,
		`copy.tags["team"] == trigger.team && !(copy.region in trigger.l)`,
		`copy.image_id == trigger.r || copy.region == trigger.r`,
		`copy.tags.team == trigger.team && copy.tags.env == trigger.env && copy.region == "r1"`,
	}
	pick := func(rng *rand.Rand, xs ...any) any { return xs[rng.IntN(len(xs))] }
	for _, src := range matches {
		ast := compileMatch(t, env, src)
		full, err := NewMatcher(env, ast)
		if err != nil {
			t.Fatal(err)
		}
		terms := Terms(env, ast)
		rng := rand.New(rand.NewPCG(1, uint64(len(src))))
		for range 200 {
			data := map[string]any{}
			for k, v := range map[string]any{
				"r":    pick(rng, "r1", "r2", "m-1", "m-2", 3.0, nil, []any{"r1"}),
				"team": pick(rng, "web", "data", ""),
				"env":  pick(rng, "prod", "dev", ""),
				"l":    pick(rng, []any{"r1"}, []any{"r1", "r2", 4.0}, []any{}, "r1", []any{[]any{}}),
			} {
				if rng.IntN(8) != 0 {
					data[k] = v
				}
			}
			var vals []Values
			var failed bool
			for i := range terms {
				tv, ok := terms[i].Eval(&act{trigger: data})
				if !ok {
					continue
				}
				if tv.Err != nil {
					failed = true
				}
				vals = append(vals, tv)
			}
			for range 10 {
				c := &cloud.Copy{
					Region:   fmt.Sprint(pick(rng, "r1", "r2", "r3")),
					ImageID:  fmt.Sprint(pick(rng, "m-1", "m-2")),
					Progress: rng.IntN(100),
					Tags:     map[string]string{},
				}
				for _, k := range []string{"team", "env"} {
					if rng.IntN(3) != 0 {
						c.Tags[k] = fmt.Sprint(pick(rng, "web", "data", "prod", "dev", ""))
					}
				}
				prg, _ := full.Bind(&act{trigger: data}, true)
				want := eval(prg, &act{trigger: data, copy: c})
				if failed && want == "true" {
					t.Fatalf("%s: a term failed on %v, yet copy %+v matches", src, data, c)
				}
				if !Passes(c, vals) && want == "true" {
					t.Fatalf("%s: copy %+v fails the terms %v yet matches on %v", src, c, vals, data)
				}
				// The rest of a term decides on every copy that term admits.
				for i, tv := range vals {
					if tv.Err != nil || !Passes(c, vals[i:i+1]) {
						continue
					}
					got := "true"
					if tv.Term.Rest != nil {
						rp, _ := tv.Term.Rest.Bind(&act{trigger: data}, true)
						got = eval(rp, &act{trigger: data, copy: c})
					} else if !tv.Term.RestTrue {
						continue // the full match runs
					}
					if (got == "true") != (want == "true") {
						t.Fatalf("%s: rest of %q gives %s, full match %s, on %+v %v", src, tv.Term.Src, got, want, c, data)
					}
				}
			}
		}
	}
}

func TestPasses(t *testing.T) {
	c := &cloud.Copy{Region: "r1", ImageID: "m-1", Tags: map[string]string{"team": "web", "blank": ""}}
	term := func(k index.Key) *Term { return &Term{Key: k} }
	region, image := term(index.Key{Field: index.Region}), term(index.Key{Field: index.ImageID})
	team, blank := term(index.Key{Field: index.Tag, Tag: "team"}), term(index.Key{Field: index.Tag, Tag: "blank"})
	absent := term(index.Key{Field: index.Tag, Tag: "absent"})
	tests := []struct {
		name    string
		filters []Values
		want    bool
	}{
		{"no filters", nil, true},
		{"region", []Values{{Term: region, Values: []string{"r2", "r1"}}}, true},
		{"wrong region", []Values{{Term: region, Values: []string{"r2"}}}, false},
		{"no values", []Values{{Term: region}}, false},
		{"all of several", []Values{{Term: region, Values: []string{"r1"}}, {Term: image, Values: []string{"m-1"}}, {Term: team, Values: []string{"web"}}}, true},
		{"one of several fails", []Values{{Term: region, Values: []string{"r1"}}, {Term: team, Values: []string{"data"}}}, false},
		{"empty tag value", []Values{{Term: blank, Values: []string{""}}}, true},
		// A missing tag is not the empty string: copy.tags.absent fails.
		{"absent tag", []Values{{Term: absent, Values: []string{""}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Passes(c, tt.filters); got != tt.want {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestTermSrcRoundTrips(t *testing.T) {
	env := testEnvs(t)
	terms := termsOf(t, env, `copy.region in trigger.regions.filter(r, r.startsWith("cn-")) && copy.tags.team == trigger.data["team"]`)
	if len(terms) != 2 {
		t.Fatalf("%d terms", len(terms))
	}
	for _, term := range terms {
		if strings.Contains(term.Src, "copy") {
			t.Errorf("term source reads the copy: %s", term.Src)
		}
		if _, iss := env.When.Compile(term.Src); iss.Err() != nil {
			t.Errorf("%s does not compile without copy: %v", term.Src, iss.Err())
		}
	}
}
