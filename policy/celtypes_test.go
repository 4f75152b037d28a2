package policy

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"cel.dev/cel-go/common/types"

	"github.com/copyguard/copyguard/cloud"
)

// TestCELViewOfCopiesAndTriggers runs expressions through the custom
// object types and the tags map, one per line, each expected true for the
// copy and trigger below.
func TestCELViewOfCopiesAndTriggers(t *testing.T) {
	exprs := []string{
		`copy.tags == {"team": "web", "env": "prod"}`,
		`copy.tags != {"team": "web"}`,
		`"team" in copy.tags && !("nope" in copy.tags)`,
		`size(copy.tags) == 2 && copy.tags.size() == 2`,
		`copy.tags.all(k, k in ["team", "env"]) && copy.tags.exists(k, copy.tags[k] == "prod")`,
		`copy.tags.team == "web" && copy.tags[?"team"].hasValue() && !copy.tags[?"nope"].hasValue()`,
		`has(copy.tags.team) && !has(copy.tags.nope)`,
		`has(copy.name) && !has(copy.resource_group_id) && has(copy.started_at) && !has(copy.size_gb)`,
		`type(copy) != type(trigger) && type(copy.tags) == map`,
		`copy == copy && trigger == trigger`,
		`string(copy.progress) == "42" && copy.progress + 1 == 43`,
		`copy.name.upperAscii() == "WEB-1" && copy.name.split("-")[1] == "1"`,
		`copy.started_at == timestamp("2025-06-01T10:00:00Z") && now - copy.started_at == duration("2h")`,
		`trigger.time.getFullYear() == 2025 && has(trigger.time) && !has(trigger.subject)`,
		`has(trigger.data.scope) && trigger.data.scope.tags.team == "web" && size(trigger.data.list) == 2`,
		`trigger.data.list[1] == 2.0 && trigger.data.list[0] == "a" && trigger.data.?missing.orValue(7) == 7`,
		`trigger.data.flag == true && trigger.data.nothing == null`,
	}
	c := cloud.Copy{ImageID: "m-1", Region: "r", Progress: 42, Name: "web-1", Status: "Creating",
		StartedAt: benchNow.Add(-2 * 3600e9), Tags: map[string]string{"team": "web", "env": "prod"}}
	tr := Trigger{Type: "x", Time: benchNow, Data: map[string]any{
		"scope": map[string]any{"tags": map[string]any{"team": "web"}},
		"list":  []any{"a", 2.0}, "flag": true, "nothing": nil,
	}}
	var b strings.Builder
	b.WriteString("policies:\n")
	for i, e := range exprs {
		fmt.Fprintf(&b, "  - name: e%d\n    on: [x]\n    match: %q\n    action: cancel\n", i, e)
	}
	set := mustParse(t, b.String())
	for _, plain := range []bool{false, true} {
		var opts []EvalOption
		if plain {
			opts = append(opts, plainEval())
		}
		plan := set.EvaluateCopies(tr, []cloud.Copy{c}, benchNow, opts...)
		for _, e := range plan.Errors {
			t.Errorf("plain=%v: %s: %s", plain, exprs[policyIndex(e.Policy)], e.Message)
		}
		if len(plan.Decisions) != 1 || len(plan.Decisions[0].Policies) != len(exprs) {
			got := map[string]bool{}
			for _, d := range plan.Decisions {
				for _, p := range d.Policies {
					got[p] = true
				}
			}
			for i, e := range exprs {
				if !got[fmt.Sprintf("e%d", i)] && len(plan.Errors) == 0 {
					t.Errorf("plain=%v: false: %s", plain, e)
				}
			}
		}
	}
}

func policyIndex(name string) int {
	var i int
	fmt.Sscanf(name, "e%d", &i)
	return i
}

// TestObjectsCannotBeBuilt: copies and triggers only come from the
// inventory and the event; an expression that builds one fails (and so
// does not match) instead of comparing against an invented copy.
func TestObjectsCannotBeBuilt(t *testing.T) {
	set := mustParse(t, "policies:\n  - {name: a, on: [x], match: 'copyguard.Copy{region: \"r\"} == copy', action: cancel}\n")
	plan := set.EvaluateCopies(trig("x", nil), []cloud.Copy{cp("r", "m", 0)}, benchNow)
	if len(plan.Decisions) != 0 || len(plan.Errors) != 1 || !strings.Contains(plan.Errors[0].Message, "cannot be created") {
		t.Errorf("%+v", plan)
	}
}

func TestCopyValConversions(t *testing.T) {
	c := &cloud.Copy{ImageID: "m", Region: "r"}
	v := copyVal{c}
	if got, err := v.ConvertToNative(reflect.TypeOf(c)); err != nil || got != c {
		t.Errorf("to *cloud.Copy: %v %v", got, err)
	}
	if got, err := v.ConvertToNative(reflect.TypeOf(*c)); err != nil || got.(cloud.Copy).ImageID != "m" {
		t.Errorf("to cloud.Copy: %v %v", got, err)
	}
	if _, err := v.ConvertToNative(reflect.TypeOf("")); err == nil {
		t.Error("to string: no error")
	}
	if v.ConvertToType(types.TypeType) != copyType || !types.IsError(v.ConvertToType(types.StringType)) {
		t.Error("ConvertToType")
	}
	other := copyVal{&cloud.Copy{ImageID: "m", Region: "r"}}
	if v.Equal(other) != types.True || v.Equal(types.String("m")) != types.False {
		t.Error("Equal")
	}
	tr := newTriggerObj(&Trigger{})
	if _, err := tr.ConvertToNative(reflect.TypeOf("")); err == nil || !types.IsError(tr.ConvertToType(types.StringType)) {
		t.Error("trigger conversions")
	}
	m := tagsMap{"a": "1"}
	if m.Get(types.String("a")) != types.String("1") || !types.IsError(m.Get(types.String("b"))) || m.Get(types.Int(1)) == nil {
		t.Error("tagsMap.Get")
	}
	if native, err := m.ConvertToNative(reflect.TypeOf(map[string]string{})); err != nil || native.(map[string]string)["a"] != "1" {
		t.Errorf("tagsMap.ConvertToNative: %v %v", native, err)
	}
	if m.ConvertToType(types.MapType) == nil || m.IsZeroValue() || m.Value() == nil || m.Type() != tagsType {
		t.Error("tagsMap basics")
	}
}
