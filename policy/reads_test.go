package policy

import (
	"fmt"
	"strings"
	"testing"
)

func TestReadsCopyStateAndTags(t *testing.T) {
	tests := []struct {
		match       string
		state, tags bool
	}{
		{`copy.region == "cn-hangzhou"`, false, false},
		{`copy.progress < 90`, true, false},
		{`copy.status == "Waiting"`, true, false},
		{`copy.tags["team"] == "a" && copy.progress < 50`, true, true},
		{`"protect" in copy.tags`, false, true},
		{`has(copy.tags.protect)`, false, true},
		{`copy.image_id == trigger.data.image_id`, false, false},
		{`[copy].exists(c, c.progress > 1)`, true, true}, // copy passed whole: may read anything
	}
	for _, tt := range tests {
		src := fmt.Sprintf("policies:\n  - name: p\n    on: [x]\n    match: '%s'\n    action: cancel\n", strings.ReplaceAll(tt.match, "'", "''"))
		set, err := Parse("p.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", tt.match, err)
		}
		p := set.Policy("p")
		if p.ReadsCopyState() != tt.state || p.ReadsCopyTags() != tt.tags {
			t.Errorf("%s: state %v tags %v, want %v %v", tt.match, p.ReadsCopyState(), p.ReadsCopyTags(), tt.state, tt.tags)
		}
	}
}
