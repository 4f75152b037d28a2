package policy

import (
	"sort"

	"go.yaml.in/yaml/v3"
)

// text is a policy file's source, kept as runes because yaml.v3 and
// cel-go both count columns in characters, not bytes.
type text struct {
	runes      []rune
	lineStarts []int // rune offset of the start of each line
}

func newText(src []byte) *text {
	rs := []rune(string(src))
	starts := []int{0}
	for i, r := range rs {
		// Line breaks as yaml.v3 counts them, so that line numbers agree.
		switch r {
		case '\r':
			if i+1 < len(rs) && rs[i+1] == '\n' {
				continue
			}
			fallthrough
		case '\n', '\u0085', '\u2028', '\u2029':
			starts = append(starts, i+1)
		}
	}
	return &text{runes: rs, lineStarts: starts}
}

// lines is the number of lines.
func (t *text) lines() int { return len(t.lineStarts) }

// prefix returns the text up to the end of line n (1-based).
func (t *text) prefix(n int) []byte {
	if n >= len(t.lineStarts) {
		return []byte(string(t.runes))
	}
	return []byte(string(t.runes[:t.lineStarts[n]]))
}

// line returns the text of line n (1-based) without its line break, or
// nil when there is no such line.
func (t *text) line(n int) []rune {
	if n < 1 || n > len(t.lineStarts) {
		return nil
	}
	end := len(t.runes)
	if n < len(t.lineStarts) {
		end = t.lineStarts[n]
	}
	rs := t.runes[t.lineStarts[n-1]:end]
	for len(rs) > 0 && (rs[len(rs)-1] == '\n' || rs[len(rs)-1] == '\r') {
		rs = rs[:len(rs)-1]
	}
	return rs
}

// offset returns the rune offset of a 1-based (line, col), or -1.
func (t *text) offset(line, col int) int {
	if line < 1 || line > len(t.lineStarts) || col < 1 {
		return -1
	}
	off := t.lineStarts[line-1] + col - 1
	if off > len(t.runes) {
		return -1
	}
	return off
}

// position returns the 1-based (line, col) of a rune offset.
func (t *text) position(off int) (int, int) {
	line := sort.Search(len(t.lineStarts), func(i int) bool { return t.lineStarts[i] > off })
	return line, off - t.lineStarts[line-1] + 1
}

// exprPosition maps a position inside the value of a scalar node (a CEL
// error's 1-based line and 0-based column, as cel-go reports them) to the
// file. It walks the raw source and the parsed value side by side, undoing
// what YAML did to the text: quotes, ” and backslash escapes, line folding
// and block indentation. Whenever the two disagree in a way it does not
// understand, it gives up and points at the start of the scalar, which is
// never wrong, only less precise.
func (t *text) exprPosition(n *yaml.Node, exprLine, exprCol int) (int, int) {
	value := []rune(n.Value)
	target := valueOffset(value, exprLine, exprCol)
	// cel-go puts an error at the end of the input (`a &&` and nothing
	// after) past the expression's last character. Past the final line
	// break a block scalar keeps, that is the start of the next line, which
	// belongs to another key; point just after the last text instead.
	if target == len(value) {
		for target > 0 && value[target-1] == '\n' {
			target--
		}
	}
	if t == nil || target < 0 {
		return n.Line, n.Column
	}
	j := t.offset(n.Line, n.Column)
	if j < 0 {
		return n.Line, n.Column
	}
	// An anchor or a tag (`&m`, `!!str`) comes first, where the node
	// starts; the text starts after it and white space.
	for j < len(t.runes) && (t.runes[j] == '&' || t.runes[j] == '!') {
		for j < len(t.runes) && !isSpace(t.runes[j]) {
			j++
		}
		for j < len(t.runes) && isSpace(t.runes[j]) {
			j++
		}
	}
	double := n.Style&yaml.DoubleQuotedStyle != 0
	single := n.Style&yaml.SingleQuotedStyle != 0
	switch {
	case double || single:
		j++ // the opening quote
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// Content starts on the line after the |/> header.
		for j < len(t.runes) && t.runes[j] != '\n' {
			j++
		}
		j++
	}
	rs := t.runes
	for i := 0; ; {
		if j >= len(rs) {
			return n.Line, n.Column
		}
		if i == target {
			return t.position(j)
		}
		if i >= len(value) {
			return n.Line, n.Column
		}
		v, c := value[i], rs[j]
		switch {
		case double && c == '\\':
			if j+1 < len(rs) && (rs[j+1] == '\n' || rs[j+1] == '\r') {
				j += 2 // an escaped line break contributes nothing
				continue
			}
			i++
			j += escapeLen(rs, j)
		case single && c == '\'' && v == '\'' && j+1 < len(rs) && rs[j+1] == '\'':
			i++
			j += 2
		case c == v || (c == '\n' && (v == ' ' || v == '\n')):
			i++
			j++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			j++ // indentation, or whitespace that folding removed
		default:
			return n.Line, n.Column
		}
	}
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// escapeLen is the length of the double-quoted escape sequence at j.
func escapeLen(rs []rune, j int) int {
	if j+1 >= len(rs) {
		return 1
	}
	switch rs[j+1] {
	case 'x':
		return 4
	case 'u':
		return 6
	case 'U':
		return 10
	}
	return 2
}

// valueOffset converts cel-go's (1-based line, 0-based column) into a rune
// offset within the expression, or -1.
func valueOffset(value []rune, line, col int) int {
	if line < 1 || col < 0 {
		return -1
	}
	off := 0
	for l := 1; l < line; l++ {
		for off < len(value) && value[off] != '\n' {
			off++
		}
		if off >= len(value) {
			return -1
		}
		off++
	}
	if off+col > len(value) {
		return -1
	}
	return off + col
}
