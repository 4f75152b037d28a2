package event

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The decoder works in two passes: encoding/json's allocation-free
// json.Valid proves the bytes are well-formed JSON, then a small scanner
// that may assume so walks them. That is several times faster than
// json.Decoder's token API (which allocates per token) and, unlike
// json.Unmarshal, sees duplicate keys and the literal text of numbers.
// The scanner still checks bounds everywhere, so a caller that skipped
// the first pass gets an error, never a panic.

type scanner struct {
	b []byte
	i int
}

// malformed is the error for bytes the scanner cannot walk. After
// json.Valid has passed it cannot happen; it guards callers that skip it.
func malformed() *Error { return &Error{Reason: "malformed JSON"} }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// expect consumes c after optional whitespace.
func (s *scanner) expect(c byte) bool {
	s.ws()
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// str consumes a string literal and returns it with its quotes.
func (s *scanner) str() ([]byte, bool) {
	start := s.i
	if s.peek() != '"' {
		return nil, false
	}
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return s.b[start:s.i], true
		}
	}
	return nil, false
}

// skip consumes one value of any kind and returns its text.
func (s *scanner) skip() ([]byte, bool) {
	s.ws()
	start := s.i
	switch s.peek() {
	case '"':
		return s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return s.b[start:s.i], true
				}
			}
			s.i++
		}
		return nil, false
	}
	for s.i < len(s.b) && !endsLiteral(s.b[s.i]) {
		s.i++
	}
	return s.b[start:s.i], s.i > start
}

func endsLiteral(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// unquote returns the value of a string literal. Literals without escapes,
// the common case, need no decoding: the body is already known to be
// UTF-8 with no raw control characters.
func unquote(lit []byte) string {
	if bytes.IndexByte(lit, '\\') < 0 && len(lit) >= 2 {
		return string(lit[1 : len(lit)-1])
	}
	var v string
	if json.Unmarshal(lit, &v) != nil {
		return ""
	}
	return v
}

// member is one top-level attribute of an event.
type member struct {
	name string
	raw  []byte
}

// maxMembers bounds the attributes of an event: every core attribute and
// every allowed extension. Beyond it the body is refused before any
// per-attribute work.
var maxMembers = len(coreAttributes) + MaxExtensions

// splitObject reads the top level of a JSON body into its raw members.
// Go's decoder silently keeps the last of two equal keys; at the top level
// that would let a producer smuggle a second "type" or "data" past a proxy
// that reads the first, so duplicates are refused.
func splitObject(b []byte) ([]member, *Error) {
	if !utf8.Valid(b) {
		return nil, errorf("", "body is not valid UTF-8")
	}
	if len(bytes.TrimLeft(b, " \t\r\n")) == 0 {
		return nil, errorf("", "body is empty")
	}
	if err := checkSyntax("", b); err != nil {
		return nil, err
	}
	s := &scanner{b: b}
	if s.ws(); s.peek() != '{' {
		return nil, errorf("", "body is a JSON %s, want an object", rawKind(b[s.i:]))
	}
	s.i++
	var ms []member
	if s.expect('}') {
		return ms, nil
	}
	for {
		s.ws()
		lit, ok := s.str()
		if !ok || !s.expect(':') {
			return nil, malformed()
		}
		raw, ok := s.skip()
		if !ok {
			return nil, malformed()
		}
		name := unquote(lit)
		for _, m := range ms {
			if m.name == name {
				if isCore(name) || extensionName.MatchString(name) {
					return nil, errorf(name, "duplicate attribute")
				}
				return nil, errorf("", "duplicate attribute %q", truncate(name, 64))
			}
		}
		if len(ms) == maxMembers {
			return nil, errorf("", "more than %d attributes: %d core and at most %d extensions are allowed",
				maxMembers, len(coreAttributes), MaxExtensions)
		}
		ms = append(ms, member{name, raw})
		if s.expect('}') {
			break
		}
		if !s.expect(',') {
			return nil, malformed()
		}
	}
	// Sorted so that of several bad extensions the same one is always
	// reported.
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.name, b.name) })
	return ms, nil
}

func lookup(ms []member, name string) ([]byte, bool) {
	for _, m := range ms {
		if m.name == name {
			return m.raw, true
		}
	}
	return nil, false
}

// checkSyntax runs the fast validity check and, only when it fails, the
// slow decoder for a message that says where.
func checkSyntax(field string, b []byte) *Error {
	if json.Valid(b) {
		return nil
	}
	var v any
	err := json.Unmarshal(b, &v)
	if se, ok := err.(*json.SyntaxError); ok {
		return errorf(field, "malformed JSON at byte %d: %v", se.Offset, se) // Offset counts the bad byte: 1-based
	}
	return errorf(field, "malformed JSON")
}

// value parses one value of an event's data; see decodeData for the
// rules.
func (s *scanner) value(p *path, depth int) (any, *Error) {
	s.ws()
	switch s.peek() {
	case '{', '[':
		if depth+1 > MaxDataDepth { // depth is the level of the container holding this value
			return nil, errorf(p.String(), "nested deeper than %d levels", MaxDataDepth)
		}
		if s.peek() == '{' {
			return s.object(p, depth+1)
		}
		return s.array(p, depth+1)
	case '"':
		lit, ok := s.str()
		if !ok {
			return nil, malformed()
		}
		return unquote(lit), nil
	}
	lit, ok := s.skip()
	switch {
	case !ok:
		return nil, malformed()
	case string(lit) == "true":
		return true, nil
	case string(lit) == "false":
		return false, nil
	case string(lit) == "null":
		return nil, nil
	}
	return toFloat(p, string(lit))
}

func (s *scanner) object(p *path, depth int) (map[string]any, *Error) {
	s.i++ // the '{'
	m := make(map[string]any)
	if s.expect('}') {
		return m, nil
	}
	for {
		s.ws()
		lit, ok := s.str()
		if !ok || !s.expect(':') {
			return nil, malformed()
		}
		key := unquote(lit)
		child := &path{parent: p, key: key}
		if _, dup := m[key]; dup {
			return nil, errorf(child.String(), "duplicate key")
		}
		v, err := s.value(child, depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
		if s.expect('}') {
			return m, nil
		}
		if !s.expect(',') {
			return nil, malformed()
		}
	}
}

func (s *scanner) array(p *path, depth int) ([]any, *Error) {
	s.i++ // the '['
	a := []any{}
	if s.expect(']') {
		return a, nil
	}
	for {
		v, err := s.value(&path{parent: p, index: len(a), isIndex: true}, depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		if s.expect(']') {
			return a, nil
		}
		if !s.expect(',') {
			return nil, malformed()
		}
	}
}

// path names a field inside data for an error message. It is built as a
// chain while parsing and turned into text only when an error needs it.
type path struct {
	parent  *path
	key     string
	index   int
	isIndex bool
}

func (p *path) String() string {
	if p == nil {
		return "data"
	}
	if p.isIndex {
		return p.parent.String() + "[" + strconv.Itoa(p.index) + "]"
	}
	return joinPath(p.parent.String(), p.key)
}
