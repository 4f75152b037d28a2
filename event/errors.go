package event

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is the reason an event was rejected. Field names the attribute or
// data field to blame ("id", "data.scope.tags"), or is empty when the body
// as a whole is wrong (too large, not JSON). Reason is written for the
// person who has to fix the producer.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// jsonKind names the JSON type of a decoded value (or of a raw value's
// first byte) the way a producer would think of it.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// rawKind is jsonKind for an undecoded, syntactically valid JSON value.
func rawKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// checkText applies the rules every free-text attribute shares. Control
// characters are refused because these strings end up in logs, subjects
// and terminal reports, where they can forge lines.
func checkText(field, s string, maxLen int) *Error {
	if !utf8.ValidString(s) {
		return errorf(field, "is not valid UTF-8")
	}
	if len(s) > maxLen {
		return errorf(field, "is %d bytes long, over the limit of %d", len(s), maxLen)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return errorf(field, "contains a control character at byte %d", i)
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary, so that error
// texts quoting producer input stay short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
