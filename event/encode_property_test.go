package event

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// gen makes random values for property tests from a fixed seed, so a
// failure names an input that can be replayed.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) gen { return gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

// text is a string that is valid as attribute text but needs escaping
// in JSON, or not, at random.
func (g gen) text(max int) string {
	parts := []string{"a", "Z", "0", "-", "/", ".", " ", "é", "中", "😀", `"`, `\`, "<", ">", "&", "\u2028", "\u2029", "'", "+"}
	n := 1 + g.r.IntN(12)
	var b strings.Builder
	for range n {
		b.WriteString(parts[g.r.IntN(len(parts))])
	}
	s := b.String()
	if len(s) > max {
		s = truncateRaw(s, max)
	}
	if s == "" {
		s = "x"
	}
	return s
}

// attr is a mostly valid attribute value; now and then one that breaks
// exactly one rule.
func (g gen) attr(max int) string {
	switch g.r.IntN(20) {
	case 0:
		return ""
	case 1:
		return "a\nb"
	case 2:
		return "\x7f"
	case 3:
		return "bad\xffutf8"
	case 4:
		return strings.Repeat("x", max+1)
	case 5:
		return strings.Repeat("é", max/2)
	}
	return g.text(max)
}

func (g gen) time() time.Time {
	switch g.r.IntN(12) {
	case 0:
		return time.Time{}
	case 1:
		return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	case 2:
		return time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC)
	case 3:
		return time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	case 4:
		return time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	case 5:
		return time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 8*3600+343))
	}
	off := (g.r.IntN(2*24*60-1) - (24*60 - 1)) * 60
	return time.Date(1970+g.r.IntN(100), time.Month(1+g.r.IntN(12)), 1+g.r.IntN(28),
		g.r.IntN(24), g.r.IntN(60), g.r.IntN(60), g.r.IntN(1e9), time.FixedZone("", off))
}

func (g gen) data() any {
	switch g.r.IntN(10) {
	case 0:
		return json.RawMessage("{\"a\":\"\xff\"}")
	case 1:
		return []int{1}
	case 2:
		return nil
	case 3:
		return json.RawMessage(` { "a" : [ 1 , "x" ] } `)
	}
	return map[string]any{g.text(20): g.text(40), "n": g.r.Float64() * 1e6, "l": []any{g.text(10), true, nil}}
}

// TestEncodeProperty: Encode writes exactly the events Validate accepts,
// and Decode reads every one back unchanged.
func TestEncodeProperty(t *testing.T) {
	g := newGen(1)
	for i := range 3000 {
		raw, _ := json.Marshal(g.data())
		e := &Event{
			SpecVersion: g.pick(SpecVersion, SpecVersion, SpecVersion, "", "0.3"),
			ID:          g.attr(MaxIDLen), Source: g.attr(MaxSourceLen), Type: g.attr(MaxTypeLen),
			Time: g.time(), Data: raw,
		}
		if g.r.IntN(2) == 0 {
			e.Subject = g.attr(MaxSubjectLen)
		}
		if g.r.IntN(3) == 0 {
			e.DataContentType = g.pick(ContentTypeJSON, "application/json; charset=utf-8", "text/plain", "application/")
		}
		if g.r.IntN(3) == 0 {
			e.Extensions = map[string]any{g.pick("traceparent", "a1", "Bad", "id"): g.pick("v", "", "\x00")}
			if g.r.IntN(2) == 0 {
				e.Extensions["n"] = []any{int64(-1 << 31), 1 << 31, int32(7), true, 1.5}[g.r.IntN(5)]
			}
		}
		verr := e.Validate()
		out, err := e.Encode()
		if (verr == nil) != (err == nil) {
			t.Fatalf("case %d: Validate = %v but Encode = %v for %#v", i, verr, err, e)
		}
		if err != nil {
			if verr.Error() != err.Error() {
				t.Fatalf("case %d: Validate says %q, Encode %q", i, verr, err)
			}
			continue
		}
		back, err := Decode(out, len(out))
		if err != nil {
			t.Fatalf("case %d: Decode refuses what Encode wrote: %v\n%q", i, err, out)
		}
		// Extensions come back as int64; compare them in that form.
		want := *e
		if e.Extensions != nil {
			want.Extensions = map[string]any{}
			for k, v := range e.Extensions {
				if _, isStr := v.(string); !isStr {
					if _, isBool := v.(bool); !isBool {
						v = toInt64(v)
					}
				}
				want.Extensions[k] = v
			}
		}
		if !sameEvent(&want, back) {
			t.Fatalf("case %d: round trip changed the event:\n%#v\n%#v", i, want, back)
		}
	}
}

// TestMarshalProperty: Marshal is New followed by Encode, only faster. It
// fails exactly when New does, writes the same bytes when it succeeds,
// and what it writes Decode accepts.
func TestMarshalProperty(t *testing.T) {
	g := newGen(2)
	for i := range 3000 {
		typ, src, id := g.attr(MaxTypeLen), g.attr(MaxSourceLen), g.attr(MaxIDLen)
		subject := ""
		if g.r.IntN(2) == 0 {
			subject = g.attr(MaxSubjectLen)
		}
		at, data := g.time(), g.data()
		got, merr := Marshal(typ, src, id, subject, at, data)
		e, nerr := New(typ, src, id, subject, at, data)
		if (merr == nil) != (nerr == nil) {
			t.Fatalf("case %d: Marshal error %v, New error %v\ntype %q source %q id %q subject %q time %v data %#v",
				i, merr, nerr, typ, src, id, subject, at, data)
		}
		if merr != nil {
			continue
		}
		want, err := e.Encode()
		if err != nil {
			t.Fatalf("case %d: New made an event Encode refuses: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: Marshal\n%s\nNew+Encode\n%s", i, got, want)
		}
		if _, err := Decode(got, len(got)); err != nil {
			t.Fatalf("case %d: Decode refuses what Marshal wrote: %v\n%q", i, err, got)
		}
	}
}

// TestEncodeRefusesWhatDecodeRefuses lists the events built in Go that
// Decode would refuse once written, each with the error Encode, New and
// Marshal must give instead of writing it.
func TestEncodeRefusesWhatDecodeRefuses(t *testing.T) {
	tests := []struct {
		name               string
		typ, src, id, subj string
		at                 time.Time
		data               any
		want               string
	}{
		{"data not utf-8", "t", "s", "i", "", time.Time{}, json.RawMessage("{\"a\":\"\xff\"}"), "data: is not valid UTF-8"},
		{"id with a newline", "t", "s", "a\nb", "", time.Time{}, map[string]any{}, "id: contains a control character at byte 1"},
		{"id too long", "t", "s", strings.Repeat("i", MaxIDLen+1), "", time.Time{}, map[string]any{}, "id: is 257 bytes long, over the limit of 256"},
		{"source not utf-8", "t", "\xff", "i", "", time.Time{}, map[string]any{}, "source: is not valid UTF-8"},
		{"type too long", strings.Repeat("t", MaxTypeLen+1), "s", "i", "", time.Time{}, map[string]any{}, "type: is 257 bytes long, over the limit of 256"},
		{"subject too long", "t", "s", "i", strings.Repeat("s", MaxSubjectLen+1), time.Time{}, map[string]any{}, "subject: is 513 bytes long, over the limit of 512"},
		{"subject with a tab", "t", "s", "i", "a\tb", time.Time{}, map[string]any{}, "subject: contains a control character at byte 1"},
		{"year 10000", "t", "s", "i", "", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), map[string]any{}, "time: year 10000 is outside the range 0-9999 of RFC 3339"},
		{"year -1", "t", "s", "i", "", time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC), map[string]any{}, "time: year -1 is outside the range 0-9999 of RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := Marshal(tt.typ, tt.src, tt.id, tt.subj, tt.at, tt.data); err == nil || err.Error() != tt.want {
				t.Errorf("Marshal = %q, %v; want error %q", b, err, tt.want)
			}
			if e, err := New(tt.typ, tt.src, tt.id, tt.subj, tt.at, tt.data); err == nil || err.Error() != tt.want {
				t.Errorf("New = %+v, %v; want error %q", e, err, tt.want)
			}
		})
	}
	e := Event{SpecVersion: SpecVersion, ID: "i", Source: "s", Type: "t", Data: json.RawMessage("{\"a\":\"\xc3\"}")}
	if b, err := e.Encode(); err == nil || err.Error() != "data: is not valid UTF-8" {
		t.Errorf("Encode = %q, %v", b, err)
	}
}
