package policy

import (
	"errors"
	"testing"
)

// TestExpressionPositions covers what the golden files do not: escapes
// before the error, escaped line breaks, CRLF files.
func TestExpressionPositions(t *testing.T) {
	tests := []struct {
		name, src string
		line, col int
	}{
		{"unicode escape", "policies:\n  - name: a\n    on: [x]\n    match: \"copy.name == \\\"\\u00e9\\\" && copy.nmae\"\n    action: cancel\n", 4, 44},
		{"crlf", "policies:\r\n  - name: a\r\n    on: [x]\r\n    match: copy.nmae\r\n    action: cancel\r\n", 4, 16},
		{"escaped line break", "policies:\n  - name: a\n    on: [x]\n    match: \"copy.progress < 5 && \\\n      copy.nmae\"\n    action: cancel\n", 5, 11},
		{"literal keep", "policies:\n  - name: a\n    on: [x]\n    match: |+\n      copy.progress < 5 &&\n\n        copy.nmae\n\n    action: cancel\n", 7, 13},
		{"indentation indicator", "policies:\n  - name: a\n    on: [x]\n    match: |2\n        copy.progress < 5 && copy.nmae\n    action: cancel\n", 5, 34},
		{"flow mapping", "policies:\n  - {name: a, on: [x], match: 'copy.nmae', action: cancel}\n", 2, 36},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.src))
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) != 1 {
				t.Fatalf("got %v", err)
			}
			p := le.Problems[0]
			if p.Line != tt.line || p.Col != tt.col {
				t.Errorf("at %d:%d, want %d:%d (%s)", p.Line, p.Col, tt.line, tt.col, p)
			}
		})
	}
}

func TestValueOffset(t *testing.T) {
	v := []rune("ab\ncdé\nf")
	for _, tc := range []struct{ line, col, want int }{
		{1, 0, 0}, {1, 2, 2}, {2, 0, 3}, {2, 3, 6}, {3, 1, 8}, {3, 2, -1}, {4, 0, -1}, {0, 0, -1}, {1, -1, -1},
	} {
		if got := valueOffset(v, tc.line, tc.col); got != tc.want {
			t.Errorf("valueOffset(%d, %d) = %d, want %d", tc.line, tc.col, got, tc.want)
		}
	}
	txt := newText([]byte("a\r\nb\rc\u2028d"))
	if txt.lines() != 4 {
		t.Errorf("lines %d", txt.lines())
	}
	if l, c := txt.position(txt.offset(3, 1)); l != 3 || c != 1 {
		t.Errorf("position %d:%d", l, c)
	}
	if txt.offset(9, 1) != -1 || txt.offset(1, 0) != -1 {
		t.Error("offset out of range")
	}
}
