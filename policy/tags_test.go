package policy

import (
	"reflect"
	"testing"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/traits"

	"github.com/copyguard/copyguard/cloud"
)

// TestTagsMapAgreesWithCEL: every method of tagsMap answers as cel-go's
// own string map over the same tags, which it stands in for.
func TestTagsMapAgreesWithCEL(t *testing.T) {
	for _, tags := range []map[string]string{nil, {}, {"team": "web"}, {"team": "web", "env": "", "cost-center": "cc-1"}} {
		m := tagsMap(tags)
		std := types.NewStringStringMap(types.DefaultTypeAdapter, tags).(traits.Mapper)
		for _, key := range []types.String{"team", "env", "nope", ""} {
			gv, gok := m.Find(key)
			wv, wok := std.Find(key)
			if gok != wok || (gok && gv.Equal(wv) != types.True) {
				t.Errorf("%v: Find(%q) = %v %v, want %v %v", tags, key, gv, gok, wv, wok)
			}
			if got, want := m.Contains(key), std.Contains(key); got != want {
				t.Errorf("%v: Contains(%q) = %v, want %v", tags, key, got, want)
			}
			fv, fok := m.FindStringKey(string(key))
			if fok != wok || (fok && fv.(types.String) != wv) {
				t.Errorf("%v: FindStringKey(%q) = %v %v", tags, key, fv, fok)
			}
			got, want := m.Get(key), std.Get(key)
			if types.IsError(got) != types.IsError(want) || (!types.IsError(got) && got.Equal(want) != types.True) {
				t.Errorf("%v: Get(%q) = %v, want %v", tags, key, got, want)
			}
		}
		// A non-string key is delegated, and so answers as cel-go does.
		if got, want := m.Contains(types.Int(1)), std.Contains(types.Int(1)); got != want {
			t.Errorf("%v: Contains(1) = %v, want %v", tags, got, want)
		}
		if got := m.Get(types.Int(1)); !types.IsError(got) {
			t.Errorf("%v: Get(1) = %v, want an error", tags, got)
		}
		if m.Size() != std.Size() {
			t.Errorf("%v: size %v", tags, m.Size())
		}
		if m.IsZeroValue() != (len(tags) == 0) {
			t.Errorf("%v: IsZeroValue %v", tags, m.IsZeroValue())
		}
		if m.Equal(std) != types.True || std.Equal(m) != types.True {
			t.Errorf("%v: not equal to cel-go's map of the same tags", tags)
		}
		// The static type is map(string, string); what CEL compares, as in
		// type(copy.tags) == map, is the name.
		if m.Type().TypeName() != std.Type().TypeName() {
			t.Errorf("%v: type %v, want %v", tags, m.Type(), std.Type())
		}
		n := 0
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			if m.Contains(k) != types.True {
				t.Errorf("%v: iterated key %v not contained", tags, k)
			}
			n++
		}
		if n != len(tags) {
			t.Errorf("%v: iterated %d keys", tags, n)
		}
		native, err := m.ConvertToNative(reflect.TypeOf(map[string]string{}))
		if err != nil || (len(tags) > 0 && !reflect.DeepEqual(native, tags)) {
			t.Errorf("%v: ConvertToNative = %v %v", tags, native, err)
		}
		if got := m.ConvertToType(types.MapType); got.Type() != types.MapType {
			t.Errorf("%v: ConvertToType(map) = %v", tags, got)
		}
		if v, ok := m.Value().(map[string]string); !ok || len(v) != len(tags) {
			t.Errorf("%v: Value %v", tags, m.Value())
		}
	}
}

// TestTagExpressions runs the tag forms a policy can use, through the
// whole stack, on a copy with and without the tag.
func TestTagExpressions(t *testing.T) {
	tests := []struct {
		match        string
		tagged, bare string // "true", "false" or "error"
	}{
		{`copy.tags["team"] == "web"`, "true", "error"},
		{`copy.tags.team == "web"`, "true", "error"},
		{`"team" in copy.tags`, "true", "false"},
		{`has(copy.tags.team)`, "true", "false"},
		{`copy.tags.?team.orValue("") == "web"`, "true", "false"},
		{`copy.tags[?"team"].hasValue()`, "true", "false"},
		{`copy.tags.size() == 2`, "true", "false"},
		{`copy.tags.exists(k, copy.tags[k] == "web")`, "true", "false"},
		{`copy.tags == {"team": "web", "env": "prod"}`, "true", "false"},
		{`copy.tags != {}`, "true", "false"},
	}
	tagged := cp("r", "m-1", 0, "team=web", "env=prod")
	bare := cp("r", "m-2", 0)
	for _, tt := range tests {
		t.Run(tt.match, func(t *testing.T) {
			set := mustParse(t, "policies:\n  - {name: p, on: [x], match: '"+tt.match+"', action: cancel}\n")
			for _, c := range []struct {
				want string
				opts []EvalOption
			}{{tt.tagged, nil}, {tt.tagged, []EvalOption{plainEval()}}} {
				plan := set.EvaluateCopies(trig("x", nil), []cloud.Copy{tagged}, benchNow, c.opts...)
				if got := outcome(plan); got != c.want {
					t.Errorf("tagged: %s, want %s", got, c.want)
				}
			}
			for _, opts := range [][]EvalOption{nil, {plainEval()}} {
				plan := set.EvaluateCopies(trig("x", nil), []cloud.Copy{bare}, benchNow, opts...)
				got := outcome(plan)
				// The index may skip the copy without running the match,
				// which turns a runtime error into a quiet no-match.
				if got != tt.bare && !(tt.bare == "error" && got == "false" && opts == nil) {
					t.Errorf("bare (plain=%v): %s, want %s", opts != nil, got, tt.bare)
				}
			}
		})
	}
}

func outcome(p *Plan) string {
	switch {
	case len(p.Errors) > 0:
		return "error"
	case len(p.Decisions) > 0:
		return "true"
	}
	return "false"
}
