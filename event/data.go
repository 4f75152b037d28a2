package event

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDataDepth bounds the nesting of objects and arrays in data. Policies
// index a few levels deep; anything deeper is a producer bug or an attack
// on the evaluator.
const MaxDataDepth = 32

// maxExactInt is 2^53-1: every integer up to it has its own float64
// (2^53+1 already rounds to 2^53); beyond it only some do.
const maxExactInt = 1<<53 - 1

// decodeData turns an event's data into the generic value policies see.
//
// Numbers become float64, as in CEL's own JSON mapping (google.protobuf.
// Value has only double): a policy compares with `trigger.data.percent >=
// 100.0`, and cel-go's cross-type comparison also accepts `>= 100`. An
// integer literal that no float64 holds exactly (9007199254740993, a long
// account id) is refused rather than silently rounded: a rounded id could
// select the wrong copy. Send such values as strings. Literals that are
// how a JSON encoder writes a float64 (1e20 as 100000000000000000000) are
// accepted, so data written by Go or JavaScript always reads back.
//
// Duplicate keys are refused at every depth, so that a policy and the
// typed payload can never read different values for the same field.
func decodeData(raw []byte) (map[string]any, *Error) {
	if !utf8.Valid(raw) {
		return nil, errorf("data", "is not valid UTF-8")
	}
	if err := checkSyntax("data", raw); err != nil {
		return nil, err
	}
	s := &scanner{b: raw}
	if s.ws(); s.peek() != '{' {
		return nil, errorf("data", "must be a JSON object, got %s", rawKind(raw[s.i:]))
	}
	return s.object(nil, 1)
}

func toFloat(p *path, s string) (float64, *Error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errorf(p.String(), "number %s is out of range", truncate(s, 32))
	}
	if !strings.ContainsAny(s, ".eE") && math.Abs(f) > maxExactInt && !exactInt(s, f) &&
		strconv.FormatFloat(f, 'f', -1, 64) != s {
		return 0, errorf(p.String(), "integer %s cannot be represented exactly as a number in policies; send it as a string", truncate(s, 32))
	}
	return f, nil
}

// exactInt reports whether the integer literal s is exactly f. Only
// literals beyond 2^53-1 get here, so math/big's cost is paid rarely.
// toFloat also accepts the literal that JSON encoders (Go's, JavaScript's)
// write for a large float64, such as 18446744073709552000 for 2^64: it
// names that float64 and no other, so nothing is rounded away.
func exactInt(s string, f float64) bool {
	lit, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return false
	}
	fi, acc := big.NewFloat(f).Int(nil)
	return acc == big.Exact && lit.Cmp(fi) == 0
}

// plainKey reports whether key reads unambiguously after a dot in a field
// path.
func plainKey(key string) bool {
	if key == "" || len(key) > 64 {
		return false
	}
	for _, c := range []byte(key) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// joinPath names a nested field for error messages: data.scope.tags.env,
// or data["odd key"] when the key would be unreadable after a dot.
func joinPath(path, key string) string {
	if plainKey(key) {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(truncate(key, 64)) + "]"
}
