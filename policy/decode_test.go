package policy

import (
	"errors"
	"strings"
	"testing"
)

// pol is a policy file with one policy named p and the given lines after
// its name.
func pol(body string) string { return "policies:\n  - name: p\n" + body }

// TestDecodeProblems lists decoder edge cases with the exact text of
// every problem each yields (nil: the file loads). The golden files under
// testdata/errors cover whole files; these cover one rule each.
func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "on as a scalar",
			src:  pol("    on: \"*\"\n    match: \"true\"\n    action: cancel\n"),
			want: nil,
		},
		{
			name: "on items",
			src:  pol("    on: [{a: 1}, budget.exceded, \"\", cancel.requested]\n    match: \"true\"\n    action: cancel\n"),
			want: []string{
				`t.yaml:3:10: policy "p": on: must be a trigger type, not a mapping`,
				`t.yaml:3:18: policy "p": on: unknown trigger type "budget.exceded" (did you mean "budget.exceeded"?)`,
				`t.yaml:3:34: policy "p": on: invalid trigger type "": use dot-separated words of letters, digits, '_' and '-'`,
			},
		},
		{
			name: "released_by wildcard",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancel\n    active_for: 1h\n    released_by: \"*\"\n"),
			want: []string{
				`t.yaml:7:18: policy "p": released_by: "*" is not allowed here; name one trigger type`,
			},
		},
		{
			name: "released_by without active_for",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancel\n    released_by: region.released\n"),
			want: []string{
				`t.yaml:6:18: policy "p": released_by: needs active_for: only a condition can be released`,
			},
		},
		{
			// An empty active_for is absent: released_by alone would be
			// accepted and then never release anything.
			name: "released_by with empty active_for",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancel\n    active_for:\n    released_by: region.released\n"),
			want: []string{
				`t.yaml:7:18: policy "p": released_by: needs active_for: only a condition can be released`,
			},
		},
		{
			name: "released_by with invalid active_for",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancel\n    active_for: forever\n    released_by: region.released\n"),
			want: []string{
				`t.yaml:6:17: policy "p": active_for: invalid duration "forever": want e.g. 90m, 6h or 7d`,
			},
		},
		{
			name: "max_cancels fraction",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancel\n    max_cancels: 1.5\n"),
			want: []string{
				`t.yaml:6:18: policy "p": max_cancels: must be a whole number, got "1.5"`,
			},
		},
		{
			name: "max_cancels quoted",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancel\n    max_cancels: \"10\"\n"),
			want: []string{
				`t.yaml:6:18: policy "p": max_cancels: must be a whole number, got "10"`,
			},
		},
		{
			name: "max_cancels hex",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancel\n    max_cancels: 0x10\n"),
			want: []string{
				`t.yaml:6:18: policy "p": max_cancels: must be a whole number, got "0x10"`,
			},
		},
		{
			name: "yaml 1.1 bools and quoted bools",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancel\n    dry_run: yes\n    enabled: \"false\"\n"),
			want: []string{
				`t.yaml:6:14: policy "p": dry_run: must be true or false, got "yes"`,
				`t.yaml:7:14: policy "p": enabled: must be true or false, got "false"`,
			},
		},
		{
			name: "description list",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancel\n    description: [a]\n"),
			want: []string{
				`t.yaml:6:18: policy "p": description: must be a single value, not a list`,
			},
		},
		{
			name: "action null",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: ~\n"),
			want: []string{
				`t.yaml:2:5: policy "p": action: missing; want cancel or protect`,
			},
		},
		{
			name: "action list",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: [cancel]\n"),
			want: []string{
				`t.yaml:5:13: policy "p": action: must be a single value, not a list`,
			},
		},
		{
			name: "action near miss",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: cancle\n"),
			want: []string{
				`t.yaml:5:13: policy "p": action: unknown action "cancle" (did you mean "cancel"?); want cancel or protect`,
			},
		},
		{
			name: "match int",
			src:  pol("    on: [x]\n    match: \"copy.progress\"\n    action: cancel\n"),
			want: []string{
				`t.yaml:4:12: policy "p": match: must be a bool expression, got int`,
			},
		},
		{
			name: "match dyn",
			src:  pol("    on: [x]\n    match: \"trigger.data.x\"\n    action: cancel\n"),
			want: []string{
				"t.yaml:4:12: policy \"p\": match: must be a bool expression, got dyn (compare it, e.g. `... == true`)",
			},
		},
		{
			name: "match blank",
			src:  pol("    on: [x]\n    match: \"   \"\n    action: cancel\n"),
			want: []string{
				`t.yaml:4:12: policy "p": match: empty expression`,
			},
		},
		{
			name: "misspelt match",
			src:  pol("    on: [x]\n    mach: \"true\"\n    action: cancel\n"),
			want: []string{
				`t.yaml:4:5: policy "p": unknown key "mach" (did you mean "match"?)`,
			},
		},
		{
			name: "match null",
			src:  pol("    on: [x]\n    match:\n    action: cancel\n"),
			want: []string{
				`t.yaml:2:5: policy "p": match: missing; every policy needs a match expression (use true to select every copy)`,
			},
		},
		{
			name: "protect with cancel keys",
			src:  pol("    on: [x]\n    match: \"true\"\n    action: protect\n    max_cancels: 3\n    dry_run: false\n    active_for: 1h\n"),
			want: []string{
				`t.yaml:6:5: policy "p": max_cancels: only cancel policies take max_cancels; a protect policy always vetoes`,
				`t.yaml:7:5: policy "p": dry_run: only cancel policies take dry_run; a protect policy always vetoes`,
				`t.yaml:8:5: policy "p": active_for: only cancel policies take active_for; a protect policy always vetoes`,
			},
		},
		{
			name: "when reads copy",
			src:  pol("    on: [x]\n    when: copy.progress > 1\n    match: \"true\"\n    action: cancel\n"),
			want: []string{
				`t.yaml:4:11: policy "p": when: cannot use copy: when is evaluated once per trigger, before any copy; move copy conditions to match`,
			},
		},
		{
			name: "when dyn",
			src:  pol("    on: [x]\n    when: trigger.data.p\n    match: \"true\"\n    action: cancel\n"),
			want: []string{
				"t.yaml:4:11: policy \"p\": when: must be a bool expression, got dyn (compare it, e.g. `... == true`)",
			},
		},
		{
			name: "misspelt name",
			src:  "policies:\n  - nmae: p\n    on: [x]\n    match: \"true\"\n    action: cancel\n",
			want: []string{
				`t.yaml:2:5: policy #1: unknown key "nmae" (did you mean "name"?)`,
			},
		},
		{
			name: "empty name",
			src:  "policies:\n  - name: \"\"\n    on: [x]\n    match: \"true\"\n    action: cancel\n",
			want: []string{
				`t.yaml:2:11: policy #1: name: must not be empty`,
			},
		},
		{
			name: "bad name",
			src:  "policies:\n  - name: -bad\n    on: [x]\n    match: \"true\"\n    action: cancel\n",
			want: []string{
				`t.yaml:2:11: policy #1: name: "-bad": use letters, digits, '.', '_' and '-', starting with a letter or digit`,
			},
		},
		{
			name: "name list",
			src:  "policies:\n  - name: [a]\n    on: [x]\n    match: \"true\"\n    action: cancel\n",
			want: []string{
				`t.yaml:2:11: policy #1: name: must be a string`,
			},
		},
		{
			name: "no name",
			src:  "policies:\n  - on: [x]\n    match: \"true\"\n    action: cancel\n",
			want: []string{
				`t.yaml:2:5: policy #1: name: missing; every policy needs a unique name`,
			},
		},
		{
			name: "duplicate name",
			src:  "policies:\n  - {name: a, on: [x], match: \"true\", action: cancel}\n  - {name: a, on: [x], match: \"true\", action: cancel}\n",
			want: []string{
				`t.yaml:3:12: policy "a": name: duplicate policy name; first defined at line 2`,
			},
		},
		{
			name: "duplicate key in flow mapping",
			src:  "policies:\n  - {name: a, on: [x], match: \"true\", action: cancel, on: [y]}\n",
			want: []string{
				`t.yaml:2:55: policy "a": on: duplicate key; first set at line 2`,
			},
		},
		{
			name: "misspelt top key",
			src:  "polices: []\n",
			want: []string{
				`t.yaml:1:1: unknown top-level key "polices" (did you mean "policies"?)`,
			},
		},
		{
			name: "policies mapping",
			src:  "policies: {}\n",
			want: []string{
				`t.yaml:1:11: policies: must be a list of policies`,
			},
		},
		{
			name: "policy not a mapping",
			src:  "policies:\n  - 3\n",
			want: []string{
				`t.yaml:2:5: policy #1: must be a mapping (name, on, match, action, ...)`,
			},
		},
		{
			name: "top level list",
			src:  "- a\n",
			want: []string{
				`t.yaml:1:1: top level must be a mapping with a policies key`,
			},
		},
		{
			name: "empty file",
			src:  "",
			want: nil,
		},
		{
			name: "empty document",
			src:  "---\n",
			want: nil,
		},
		{
			name: "null policies",
			src:  "policies:\n",
			want: nil,
		},
		{
			name: "anchor at top level",
			src:  "types: &t [x]\npolicies:\n  - {name: a, on: *t, match: \"true\", action: cancel}\n",
			want: []string{
				`t.yaml:1:1: unknown top-level key "types"; a policy file has only a policies key`,
			},
		},
		{
			name: "duplicate name across documents",
			src:  "policies:\n  - {name: a, on: [x], match: \"true\", action: cancel}\n---\npolicies:\n  - {name: a, on: [x], match: \"true\", action: cancel}\n",
			want: []string{
				`t.yaml:5:12: policy "a": name: duplicate policy name; first defined at line 2`,
			},
		},
		{
			name: "zero active_for",
			src:  "policies:\n  - {name: a, on: [\"*\", x], match: \"true\", action: cancel, active_for: 0s}\n",
			want: []string{
				`t.yaml:2:72: policy "a": active_for: must be longer than zero, got "0s"`,
			},
		},
		{
			name: "active_for too many days",
			src:  "policies:\n  - {name: a, on: [x], match: \"true\", action: cancel, active_for: 3651d}\n",
			want: []string{
				`t.yaml:2:67: policy "a": active_for: invalid duration "3651d": want e.g. 90m, 6h or 7d`,
			},
		},
		{
			name: "negative active_for",
			src:  "policies:\n  - {name: a, on: [x], match: \"true\", action: cancel, active_for: -1h}\n",
			want: []string{
				`t.yaml:2:67: policy "a": active_for: must be longer than zero, got "-1h"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.src))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				return
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LoadError", err)
			}
			checkProblems(t, le.Problems)
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}
