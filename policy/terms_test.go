package policy

import (
	"fmt"
	"slices"
	"testing"

	"github.com/copyguard/copyguard/policy/internal/index"
)

// TestIndexTerms documents which conjuncts the index understands.
func TestIndexTerms(t *testing.T) {
	tests := []struct {
		match string
		want  []string // field[tag]=rhs, "!" marks terms with nothing left to check
	}{
		{`copy.region == trigger.data.region`, []string{"region=trigger.data.region!"}},
		{`trigger.data.region == copy.region`, []string{"region=trigger.data.region!"}},
		{`copy.region in ["a", "b"] && copy.progress < 50`, []string{`region in ["a", "b"]`}},
		{`copy.image_id == trigger.data.image_id && copy.region == trigger.data.region`,
			[]string{"image_id=trigger.data.image_id", "region=trigger.data.region"}},
		{`copy.tags["cost-center"] == trigger.data.scope.tags["cost-center"]`,
			[]string{`tags[cost-center]=trigger.data.scope.tags["cost-center"]!`}},
		{`copy.tags.team == "web" && (copy.progress < 5 && copy.tags[?"env"].orValue("x") == "prod")`,
			[]string{`tags[team]="web"`, `tags[env]|x="prod"`}},
		{`copy.tags.?team.orValue("") == trigger.data.team`, []string{`tags[team]|=trigger.data.team!`}},
		{`copy.region == "a" || copy.region == "b"`, nil},          // not a conjunct
		{`copy.region.startsWith("cn-")`, nil},                     // a function of the field
		{`copy.region == copy.source_region`, nil},                 // both sides read the copy
		{`copy.region == string(trigger.data.n) + copy.name`, nil}, // so does this one
		{`copy.progress == trigger.data.p`, nil},                   // not an indexed field
		{`copy.region in trigger.data.regions.map(r, r.lowerAscii())`, []string{"region in trigger.data.regions.map(r, r.lowerAscii())!"}},
		{`[1].exists(copy, copy == 1) && copy.region == "a"`, []string{`region="a"`}}, // shadowing is only a name
	}
	for _, tt := range tests {
		set := mustParse(t, fmt.Sprintf("policies:\n  - {name: p, on: [x], match: %q, action: cancel}\n", tt.match))
		var got []string
		for _, term := range set.Policy("p").terms {
			s := term.Key.Field.String()
			if term.Key.Field == index.Tag {
				s += "[" + term.Key.Tag + "]"
				if term.OrValue != nil {
					s += "|" + *term.OrValue
				}
			}
			if term.In {
				s += " in " + term.Src
			} else {
				s += "=" + term.Src
			}
			if term.RestTrue {
				s += "!"
			}
			got = append(got, s)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.match, got, tt.want)
		}
	}
}
