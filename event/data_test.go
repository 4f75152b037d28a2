package event

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestDecodeDataNumbers pins the float64-exactness rule at its edges:
// every accepted literal names exactly the float64 it becomes, and an
// integer literal that would be rounded is refused.
func TestDecodeDataNumbers(t *testing.T) {
	const inexact = " cannot be represented exactly as a number in policies; send it as a string"
	tests := []struct {
		lit    string
		want   float64
		reason string // empty: accepted as want
	}{
		{"0", 0, ""},
		{"-0", math.Copysign(0, -1), ""},
		{"1000", 1000, ""},
		{"1e3", 1000, ""},
		{"1E3", 1000, ""},
		{"1e+3", 1000, ""},
		{"10e2", 1000, ""},
		{"1000.0", 1000, ""},
		{"1000.000000000000000000001", 1000, ""},
		{"0.1", 0.1, ""},
		{"-2.5e-3", -0.0025, ""},
		{"9007199254740991", 1<<53 - 1, ""},
		{"-9007199254740991", -(1<<53 - 1), ""},
		{"9007199254740992", 1 << 53, ""},
		{"-9007199254740992", -(1 << 53), ""},
		{"9007199254740993", 0, "integer 9007199254740993" + inexact},
		{"-9007199254740993", 0, "integer -9007199254740993" + inexact},
		{"9007199254740994", 1<<53 + 2, ""},
		{"9007199254740995", 0, "integer 9007199254740995" + inexact},
		{"18014398509481984", 1 << 54, ""},
		{"18014398509481986", 0, "integer 18014398509481986" + inexact},
		{"18446744073709551615", 0, "integer 18446744073709551615" + inexact},
		{"18446744073709551616", 1 << 64, ""},
		{"18446744073709552000", 1 << 64, ""}, // how Go and JavaScript write 2^64
		{"18446744073709551617", 0, "integer 18446744073709551617" + inexact},
		{"100000000000000000000", 1e20, ""},
		{"123456789012345678901234567890123456789", 0, "integer 12345678901234567890123456789012..." + inexact},
		// Literals with a fraction or an exponent are not integer
		// literals: they round like any decimal fraction does.
		{"9007199254740993.0", 1 << 53, ""},
		{"9.007199254740993e15", 1 << 53, ""},
		{"1.7976931348623157e308", math.MaxFloat64, ""},
		{"-1.7976931348623157e308", -math.MaxFloat64, ""},
		{"1.7976931348623159e308", 0, "number 1.7976931348623159e308 is out of range"},
		{"1e400", 0, "number 1e400 is out of range"},
		{"-1e400", 0, "number -1e400 is out of range"},
		{"1e-400", 0, ""}, // underflows to zero, as every JSON reader does
		{"5e-324", math.SmallestNonzeroFloat64, ""},
	}
	for _, tt := range tests {
		t.Run(tt.lit, func(t *testing.T) {
			m, err := decodeData([]byte(`{"n":` + tt.lit + `}`))
			if tt.reason != "" {
				if m != nil {
					t.Errorf("data = %#v with an error", m)
				}
				wantError(t, err, "data.n", tt.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := m["n"].(float64)
			if !ok || got != tt.want || math.Signbit(got) != math.Signbit(tt.want) {
				t.Errorf("n = %#v, want %v", m["n"], tt.want)
			}
		})
	}
}

// TestDecodeDataIntegersProperty: around every power of two from 2^53 to
// 2^70, an integer literal is accepted exactly when a float64 holds it.
func TestDecodeDataIntegersProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 53))
	for exp := 53; exp <= 70; exp++ {
		for range 40 {
			// base + small offset, written as an exact decimal integer.
			base := new(bigInt).lsh(exp)
			off := rng.IntN(1<<uint(exp-50)) - 1<<uint(exp-51)
			lit := base.add(off).String()
			if rng.IntN(2) == 0 {
				lit = "-" + lit
			}
			f, _ := strconv.ParseFloat(lit, 64)
			exact := exactInt(lit, f)
			m, err := decodeData([]byte(`{"n":` + lit + `}`))
			shortest := strconv.FormatFloat(f, 'f', -1, 64) == lit
			switch {
			case exact || shortest:
				if err != nil || m["n"] != f {
					t.Errorf("%s (exact %v): %v, %v", lit, exact, m, err)
				}
			case err == nil:
				t.Errorf("%s is not exact but was accepted as %v", lit, m["n"])
			}
		}
	}
}

// bigInt is the little arbitrary-precision integer the property test
// needs, kept as a decimal digit string to stay independent of the
// math/big code under test.
type bigInt struct{ digits []byte } // little-endian decimal digits

func (b *bigInt) lsh(n int) *bigInt {
	b.digits = []byte{1}
	for range n {
		carry := byte(0)
		for i := range b.digits {
			d := b.digits[i]*2 + carry
			b.digits[i], carry = d%10, d/10
		}
		if carry > 0 {
			b.digits = append(b.digits, carry)
		}
	}
	return b
}

func (b *bigInt) add(n int) *bigInt {
	// Only small |n| relative to b: add or subtract digit by digit.
	sign := 1
	if n < 0 {
		sign, n = -1, -n
	}
	carry := 0
	for i := 0; i < len(b.digits) && (n > 0 || carry != 0); i++ {
		d := int(b.digits[i]) + sign*(n%10) + carry
		n /= 10
		carry = 0
		if d < 0 {
			d, carry = d+10, -1
		} else if d > 9 {
			d, carry = d-10, 1
		}
		b.digits[i] = byte(d)
	}
	for len(b.digits) > 1 && b.digits[len(b.digits)-1] == 0 {
		b.digits = b.digits[:len(b.digits)-1]
	}
	return b
}

func (b *bigInt) String() string {
	s := make([]byte, len(b.digits))
	for i, d := range b.digits {
		s[len(s)-1-i] = '0' + d
	}
	return string(s)
}

func TestBigIntHelper(t *testing.T) {
	if got := new(bigInt).lsh(64).String(); got != "18446744073709551616" {
		t.Errorf("2^64 = %s", got)
	}
	if got := new(bigInt).lsh(64).add(-17).String(); got != "18446744073709551599" {
		t.Errorf("2^64-17 = %s", got)
	}
	if got := new(bigInt).lsh(10).add(-24).String(); got != "1000" {
		t.Errorf("2^10-24 = %s", got)
	}
}

func TestDecodeDataRejects(t *testing.T) {
	nest := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	tests := []struct {
		name, data    string
		field, reason string
	}{
		{"not utf-8", "{\"a\":\"\xff\"}", "data", "is not valid UTF-8"},
		{"syntax", `{"a":}`, "data", "malformed JSON at byte 6: invalid character '}' looking for beginning of value"},
		{"trailing", `{} []`, "data", "malformed JSON at byte 4: invalid character '[' after top-level value"},
		{"empty", ``, "data", "malformed JSON at byte 0: unexpected end of JSON input"},
		{"array", ` [1]`, "data", "must be a JSON object, got array"},
		{"null", `null`, "data", "must be a JSON object, got null"},
		{"duplicate top level", `{"a":1,"a":1}`, "data.a", "duplicate key"},
		{"duplicate through an escape", `{"a":1,"\u0061":2}`, "data.a", "duplicate key"},
		{"duplicate null", `{"a":null,"a":null}`, "data.a", "duplicate key"},
		{"duplicate deep", `{"x":[0,[{"y":{"z":1,"z":2}}]]}`, "data.x[1][0].y.z", "duplicate key"},
		{"duplicate unicode key", `{"é":1,"\u00e9":2}`, `data["é"]`, "duplicate key"},
		{"duplicate dotted key", `{"a.b":1,"a.b":2}`, `data["a.b"]`, "duplicate key"},
		{"duplicate empty key", `{"":1,"":2}`, `data[""]`, "duplicate key"},
		{"duplicate long key", `{"` + strings.Repeat("k", 65) + `":1,"` + strings.Repeat("k", 65) + `":2}`,
			`data["` + strings.Repeat("k", 64) + `..."]`, "duplicate key"},
		{"duplicate key of 64 characters", `{"` + strings.Repeat("k", 64) + `":1,"` + strings.Repeat("k", 64) + `":2}`,
			"data." + strings.Repeat("k", 64), "duplicate key"},
		{"first error wins", `{"a":1e400,"a":2}`, "data.a", "number 1e400 is out of range"},
		{"arrays too deep", `{"a":` + nest("[", "]", MaxDataDepth) + `}`, "data.a" + strings.Repeat("[0]", MaxDataDepth-1), "nested deeper than 32 levels"},
		{"mixed too deep", `{"a":` + nest(`[{"b":`, `}]`, MaxDataDepth/2) + `}`,
			"data.a" + strings.Repeat(`[0].b`, MaxDataDepth/2-1) + "[0]", "nested deeper than 32 levels"},
		{"number in array", `{"a":[1,2,9007199254740993]}`, "data.a[2]", "integer 9007199254740993 cannot be represented exactly as a number in policies; send it as a string"},
		{"number under odd key", `{"a b":{"c":1e999}}`, `data["a b"].c`, "number 1e999 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeData([]byte(tt.data))
			if m != nil {
				t.Errorf("data = %#v with an error", m)
			}
			wantError(t, err, tt.field, tt.reason)
		})
	}
}

func TestDecodeDataAccepts(t *testing.T) {
	nest := func(n int) string { return strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1) }
	tests := []struct {
		name, data string
		want       map[string]any
	}{
		{"empty", `{}`, map[string]any{}},
		{"whitespace", " \t\r\n{ \"a\" : [ ] , \"b\" : { } } \n", map[string]any{"a": []any{}, "b": map[string]any{}}},
		{"escapes", `{"k\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00":"\u0000\u2028"}`, map[string]any{"k\"\\/\b\f\n\r\té😀": "\x00\u2028"}},
		{"lone surrogate", `{"s":"\udc00"}`, map[string]any{"s": "\uFFFD"}},
		{"literals", `{"t":true,"f":false,"n":null,"l":[true,false,null]}`,
			map[string]any{"t": true, "f": false, "n": nil, "l": []any{true, false, nil}}},
		{"same key at different depths", `{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}`,
			map[string]any{"a": map[string]any{"a": map[string]any{"a": 1.0}}, "b": []any{map[string]any{"a": 1.0}, map[string]any{"a": 2.0}}}},
		{"keys differing only in case", `{"a":1,"A":2}`, map[string]any{"a": 1.0, "A": 2.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeData([]byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, tt.want) {
				t.Errorf("data = %#v\nwant %#v", m, tt.want)
			}
		})
	}
	if _, err := decodeData([]byte(nest(MaxDataDepth))); err != nil {
		t.Errorf("%d levels: %v", MaxDataDepth, err)
	}
	if _, err := decodeData([]byte(nest(MaxDataDepth + 1))); err == nil {
		t.Errorf("%d levels accepted", MaxDataDepth+1)
	}
	arr := `{"a":` + strings.Repeat("[", MaxDataDepth-1) + strings.Repeat("]", MaxDataDepth-1) + `}`
	if _, err := decodeData([]byte(arr)); err != nil {
		t.Errorf("%d levels of arrays: %v", MaxDataDepth, err)
	}
}

func TestJoinPath(t *testing.T) {
	tests := []struct{ key, want string }{
		{"env", "data.env"},
		{"cost-center", "data.cost-center"},
		{"Under_score9", "data.Under_score9"},
		{"a.b", `data["a.b"]`},
		{"a b", `data["a b"]`},
		{"", `data[""]`},
		{"é", `data["é"]`},
		{`q"`, `data["q\""]`},
		{"\n", `data["\n"]`},
		{strings.Repeat("x", 64), "data." + strings.Repeat("x", 64)},
		{strings.Repeat("x", 65), `data["` + strings.Repeat("x", 64) + `..."]`},
		{strings.Repeat("é", 40), `data["` + strings.Repeat("é", 32) + `..."]`},
	}
	for _, tt := range tests {
		if got := joinPath("data", tt.key); got != tt.want {
			t.Errorf("joinPath(data, %q) = %s, want %s", tt.key, got, tt.want)
		}
	}
	p := &path{parent: &path{parent: &path{key: "a"}, index: 3, isIndex: true}, key: "b c"}
	if got := p.String(); got != `data.a[3]["b c"]` {
		t.Errorf("path = %s", got)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc..."},
		{"ééé", 4, "éé"[:4] + "..."},
		{"ééé", 3, "é..."},
		{"é", 0, "..."},
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// TestScannerWithoutSyntaxCheck walks broken bytes with the scanner alone,
// as a caller that skipped json.Valid would: every answer is an error or
// a value, never a panic or an endless loop.
func TestScannerWithoutSyntaxCheck(t *testing.T) {
	inputs := []string{
		`{`, `{"`, `{"a`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `{"a":"`, `{"a":"\`, `{"a":[`, `{"a":[1,`,
		`{"a":{`, `{1:2}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":[1 2]}`, `{"a":tru}`, `{"a":]}`, `{"a":}`,
	}
	for _, in := range inputs {
		s := &scanner{b: []byte(in)}
		m, err := s.object(nil, 1)
		if err == nil && m == nil {
			t.Errorf("%q: neither a value nor an error", in)
		}
		(&scanner{b: []byte(in)}).skip()
		(&scanner{b: []byte(in[1:])}).skip()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]":,\ a1-e.tn`)
	for range 5000 {
		b := make([]byte, 1+rng.IntN(24))
		b[0] = '{'
		for i := 1; i < len(b); i++ {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		(&scanner{b: b}).object(nil, 1)
		(&scanner{b: b}).skip()
		if _, err := splitObject(b); err == nil {
			// splitObject runs the syntax check, so what it accepts must be JSON.
			if _, err := decodeData(b); err != nil && strings.HasPrefix(err.Reason, "malformed") {
				t.Errorf("%q: splitObject accepted what decodeData calls malformed", b)
			}
		}
	}
}

func TestKinds(t *testing.T) {
	values := map[string]any{"null": nil, "string": "", "number": 0.0, "boolean": false, "array": []any{}, "object": map[string]any{}, "int": 1}
	for want, v := range values {
		if got := jsonKind(v); got != want {
			t.Errorf("jsonKind(%#v) = %s, want %s", v, got, want)
		}
	}
	raws := map[string]string{"": "nothing", `"x"`: "string", `{}`: "object", `[]`: "array", `true`: "boolean", `false`: "boolean", `null`: "null", `-1`: "number", `0`: "number"}
	for raw, want := range raws {
		if got := rawKind([]byte(raw)); got != want {
			t.Errorf("rawKind(%q) = %s, want %s", raw, got, want)
		}
	}
}
