package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a policy file, located as precisely as
// the loader could: Line and Col are 1-based, and 0 when unknown.
type Problem struct {
	File      string
	Line, Col int
	// Policy is the policy's name; when the policy has no usable name,
	// Index is its 1-based position in the file instead.
	Policy string
	Index  int
	// Field is the policy key (or top-level key) at fault, if any.
	Field   string
	Message string
}

// String formats the problem as `file:line:col: policy "name": field: message`,
// leaving out the parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	switch {
	case p.Policy != "":
		fmt.Fprintf(&b, "policy %q: ", p.Policy)
	case p.Index > 0:
		fmt.Fprintf(&b, "policy #%d: ", p.Index)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError lists every problem found while loading a policy set.
type LoadError struct {
	Problems []Problem
}

// Error returns one problem per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// newLoadError orders problems by file, line and column (keeping the
// discovery order for ties, so related messages stay together) and makes
// every message one line: cel-go quotes offending tokens, newlines
// included, and each problem must stay one line of output.
func newLoadError(ps []Problem) *LoadError {
	ps = slices.Clone(ps)
	for i := range ps {
		ps[i].Message = oneLine.Replace(ps[i].Message)
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return &LoadError{Problems: ps}
}

var oneLine = strings.NewReplacer("\r\n", `\n`, "\n", `\n`, "\r", `\r`)
