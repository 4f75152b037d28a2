package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// caret marks, in a test source, the character a problem must point at.
// It is taken out before the source is parsed.
const caret = "‸"

// carets removes the carets from src and returns it with the 1-based
// line:col of each, columns counted in characters as editors and yaml.v3
// count them. It is an oracle independent of position.go: it only counts.
func carets(src string) (string, []string) {
	var out strings.Builder
	var at []string
	line, col := 1, 1
	for _, r := range src {
		if string(r) == caret {
			at = append(at, fmt.Sprintf("%d:%d", line, col))
			continue
		}
		out.WriteRune(r)
		col++
		if r == '\n' {
			line, col = line+1, 1
		}
	}
	return out.String(), at
}

// expr is a one-policy file whose match is the given YAML text (what
// follows "match:", line breaks and all).
func expr(match string) string {
	return "policies:\n  - name: a\n    on: [x]\n    match:" + match + "\n    action: cancel\n"
}

// crlf gives src Windows line endings.
func crlf(src string) string { return strings.ReplaceAll(src, "\n", "\r\n") }

// TestExpressionPositionsByStyle puts CEL syntax and type errors behind
// everything YAML rewrites between the file and the expression: quotes and
// their escapes, folding, block indentation, CRLF, tabs and characters of
// every UTF-8 length. Each caret is where a problem must point; the
// problems must be exactly those.
func TestExpressionPositionsByStyle(t *testing.T) {
	tests := []struct{ name, src string }{
		// Plain scalars.
		{"plain undefined field", expr(" copy‸.nmae")},
		{"plain syntax", expr(" copy.progress <‸> 5")},
		{"plain type", expr(` copy.progress ‸== "x"`)},
		{"plain no overload", expr(` copy.name.startsWith‸(1)`)},
		{"plain undeclared", expr(` ‸cpy.progress < 5`)},
		{"plain tab before", expr(" copy.progress <\t5 && copy‸.nmae")},
		{"plain two-byte and three-byte UTF-8", expr(" copy.name == 'é中' && copy‸.nmae")},
		{"plain four-byte UTF-8", expr(" copy.name == '😀' && copy‸.nmae")},
		{"plain multi-line", expr(" copy.progress < 5 &&\n      copy‸.nmae")},
		{"plain blank line", expr(" copy.progress < 5 &&\n\n      copy‸.nmae")},
		{"plain end of input", expr(" copy.progress < 5 &&‸")},
		{"plain in flow mapping", "policies:\n  - {name: a, on: [x], match: copy‸.nmae, action: cancel}\n"},
		{"plain after BOM", "\ufeff{policies: [{name: a, on: [x], match: copy‸.nmae, action: cancel}]}\n"},
		// Node properties stand between the key and the text; an alias
		// reports at the anchored text, which is the expression's source.
		{"plain anchored", expr(" &m copy‸.nmae")},
		{"plain tagged", expr(" !!str copy‸.nmae")},
		{"plain tagged and anchored", expr(" !!str &m copy‸.nmae")},
		{"double anchored", expr(` &m "copy.name == \"x\" && copy‸.nmae"`)},
		{"single tagged", expr(" !!str 'copy‸.nmae'")},
		{"anchor on its own line", expr(" &m\n      copy‸.nmae")},
		{"literal anchored", expr(" &m |\n      copy.progress < 5 &&\n      copy‸.nmae")},
		{"alias", "policies:\n  - name: a\n    description: &w trigger‸.dat.x == 1\n    on: [x]\n    match: \"true\"\n    action: cancel\n  - name: b\n    on: [x]\n    when: *w\n    match: \"true\"\n    action: cancel\n"},
		{"plain in second document", "policies: []\n---\npolicies:\n  - name: a\n    on: [x]\n    match: copy‸.nmae\n    action: cancel\n"},

		// Single-quoted scalars.
		{"single", expr(" 'copy‸.nmae'")},
		{"single doubled quote before", expr(` 'copy.name == "it''s" && copy‸.nmae'`)},
		{"single multi-line", expr(" 'copy.name == \"it''s\" &&\n      copy‸.nmae'")},
		{"single blank line", expr(" 'copy.name == \"it''s\" &&\n\n      copy‸.nmae'")},
		{"single UTF-8", expr(" 'copy.name == \"é😀\" && copy‸.nmae'")},
		{"single syntax", expr(" 'copy.progress <‸> 5'")},

		// Double-quoted scalars: each escape is longer in the file than in
		// the expression.
		{"double escaped quote", expr(` "copy.name == \"x\" && copy.progress <‸> 50"`)},
		{"double escaped backslash", expr(` "copy.name == '\\\\' && copy‸.nmae"`)},
		{"double x escape", expr(` "copy.name == '\x41' && copy‸.nmae"`)},
		{"double u escape", expr(` "copy.name == '\u00e9' && copy‸.nmae"`)},
		{"double U escape", expr(` "copy.name == '\U0001F600' && copy‸.nmae"`)},
		{"double nbsp escape", expr(` "copy.name == '\_' && copy‸.nmae"`)},
		{"double tab escape", expr(` "copy.progress < 5 &&\tcopy‸.nmae"`)},
		{"double raw tab", expr(" \"copy.progress < 5 &&\tcopy‸.nmae\"")},
		{"double newline escape", expr(` "copy.progress < 5 &&\n copy‸.nmae"`)},
		{"double escaped line break", expr(" \"copy.progress < 5 && \\\n      copy‸.nmae\"")},
		{"double multi-line", expr(" \"copy.progress < 5 &&\n      copy‸.nmae\"")},
		{"double blank line", expr(" \"copy.progress < 5 &&\n\n      copy‸.nmae\"")},
		{"double trailing spaces folded", expr(" \"copy.progress < 5 &&   \n      copy‸.nmae\"")},
		{"double raw UTF-8", expr(` "copy.name == 'é中😀' && copy‸.nmae"`)},
		{"double type", expr(` "copy.tags ‸== 1"`)},
		{"double end of input", expr(` "copy.progress < 5 &&‸"`)},

		// Literal block scalars.
		{"literal", expr(" |\n      copy.progress < 5 &&\n      copy‸.nmae")},
		{"literal strip, header comment", expr(" |- # why\n      copy.progress < 5 &&\n        copy‸.nmae")},
		{"literal tab in content", expr(" |\n      copy.progress < 5 &&\tcopy‸.nmae")},
		{"literal UTF-8", expr(" |\n      copy.name == \"é😀\" &&\n      copy‸.nmae")},
		{"literal two syntax errors", expr(" |\n      copy.progress <‸> 5 &&\n      copy.size_gb <‸> 1")},
		// An expression cut short (`... &&`) fails at its end, which for a
		// block that keeps its final line break is the next line: another
		// key's, or blank ones.
		{"literal end of input", expr(" |\n      copy.progress < 5 &&‸")},
		{"literal keep, end of input before blank lines", expr(" |+\n      copy.progress < 5 &&‸\n\n")},
		{"literal unterminated string", expr(" |\n      copy.progress < 5 &&\n      copy.name == ‸\"abc‸")},
		{"literal type on third line", expr(" |\n      copy.progress < 5 &&\n      copy.size_gb > 1 &&\n      copy.tags ‸== 1")},

		// Folded block scalars.
		{"folded", expr(" >\n      copy.progress < 5 &&\n      copy‸.nmae")},
		{"folded strip", expr(" >-\n      copy.progress < 5 &&\n      copy‸.nmae")},
		{"folded more indented line", expr(" >\n      copy.progress < 5 &&\n        copy.size_gb > 1 &&\n      copy‸.nmae")},
		{"folded blank line", expr(" >-\n      copy.progress < 5 &&\n\n      copy‸.nmae")},
		{"folded end of input", expr(" >\n      copy.progress < 5 &&‸")},
		{"folded end of input, stripped", expr(" >-\n      copy.progress < 5 &&‸")},

		// CRLF files, every style.
		{"crlf plain", crlf(expr(" copy‸.nmae"))},
		{"crlf plain multi-line", crlf(expr(" copy.progress < 5 &&\n      copy‸.nmae"))},
		{"crlf double multi-line", crlf(expr(" \"copy.progress < 5 &&\n      copy‸.nmae\""))},
		{"crlf double escaped line break", crlf(expr(" \"copy.progress < 5 && \\\n      copy‸.nmae\""))},
		{"crlf single multi-line", crlf(expr(" 'copy.progress < 5 &&\n      copy‸.nmae'"))},
		{"crlf literal", crlf(expr(" |\n      copy.progress < 5 &&\n      copy‸.nmae"))},
		{"crlf literal end of input", crlf(expr(" |\n      copy.progress < 5 &&‸"))},
		{"crlf folded", crlf(expr(" >\n      copy.progress < 5 &&\n      copy‸.nmae"))},

		// when, in the environment without copy.
		{"when undefined field", "policies:\n  - name: a\n    on: [x]\n    when: 'trigger‸.dat.x == 1'\n    match: \"true\"\n    action: cancel\n"},
		{"when syntax in block", "policies:\n  - name: a\n    on: [x]\n    when: |\n      trigger.data.x ==‸) 1\n    match: \"true\"\n    action: cancel\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, want := carets(tt.src)
			if len(want) == 0 {
				t.Fatal("no caret in the case")
			}
			_, err := Parse("p.yaml", []byte(src))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse returned %v, want a *LoadError", err)
			}
			checkProblems(t, le.Problems)
			var got []string
			for _, p := range le.Problems {
				got = append(got, fmt.Sprintf("%d:%d", p.Line, p.Col))
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("problems at %v, want %v:\n%v\nin\n%s", got, want, err, src)
			}
		})
	}
}
