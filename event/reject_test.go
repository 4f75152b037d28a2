package event

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestRejectCut: the original body is cut to MaxOriginal bytes, backing
// off only over a character the cut would split, with invalid UTF-8
// replaced.
func TestRejectCut(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name      string
		body      string
		want      string
		truncated bool
	}{
		{"empty", "", "", false},
		{"exactly the limit", a(MaxOriginal), a(MaxOriginal), false},
		{"one over", a(MaxOriginal + 1), a(MaxOriginal), true},
		{"two-byte character across the cut", a(MaxOriginal-1) + "é" + "b", a(MaxOriginal - 1), true},
		{"three-byte character across the cut", a(MaxOriginal-2) + "中" + "b", a(MaxOriginal - 2), true},
		{"four-byte character across the cut", a(MaxOriginal-3) + "😀", a(MaxOriginal - 3), true},
		{"four-byte character ending at the cut", a(MaxOriginal-4) + "😀" + "b", a(MaxOriginal-4) + "😀", true},
		{"character right after the cut", a(MaxOriginal) + "é", a(MaxOriginal), true},
		{"invalid bytes short", "a\xffb\xc3", "a\uFFFDb\uFFFD", false},
		// A run of stray continuation bytes across the cut is not a
		// character: cutting back to its start would drop everything.
		{"stray continuation bytes across the cut", "a" + strings.Repeat("\x80", MaxOriginal), "a\uFFFD", true},
		{"text then stray bytes", a(MaxOriginal-10) + strings.Repeat("\xbf", 20), a(MaxOriginal-10) + "\uFFFD", true},
		{"stray byte right at the cut", a(MaxOriginal) + "\x80", a(MaxOriginal), true},
		{"lead byte before stray bytes", a(MaxOriginal-1) + "\xc3\x80\x80", a(MaxOriginal - 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Reject("s", []byte(tt.body), errors.New("bad"), "h", at)
			if r.Original != tt.want || r.Truncated != tt.truncated {
				t.Errorf("Original = %q... (%d bytes), truncated %v\nwant %q... (%d bytes), truncated %v",
					truncate(r.Original, 16), len(r.Original), r.Truncated, truncate(tt.want, 16), len(tt.want), tt.truncated)
			}
			if err := r.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRejectProperty: whatever the body, the original is valid UTF-8 of
// at most MaxOriginal bytes, Truncated says whether anything was lost,
// and a body that was valid UTF-8 keeps a prefix of itself within three
// bytes of the limit.
func TestRejectProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4096))
	pieces := []string{"a", "é", "中", "😀", "\xff", "\x80", "\xc3", "\xe4\xb8", "\xf0\x9f\x98", "\x80\xbf\x80\xbf\x80\xbf\x80\xbf\x80\xbf\x80\xbf", "\"", "\\", "\x00"}
	for i := range 2000 {
		var b strings.Builder
		n := MaxOriginal - 8 + rng.IntN(16)
		if rng.IntN(4) == 0 {
			n = rng.IntN(3 * MaxOriginal)
		}
		for b.Len() < n {
			if rng.IntN(3) == 0 {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			} else {
				b.WriteByte('a')
			}
		}
		body := []byte(b.String())
		r := Reject("s", body, &Error{Field: "id", Reason: "x"}, "h", time.Unix(1, 0))
		if len(r.Original) > MaxOriginal || !utf8.ValidString(r.Original) {
			t.Fatalf("case %d: original of %d bytes, valid %v", i, len(r.Original), utf8.ValidString(r.Original))
		}
		if r.Field != "id" || r.Reason != "id: x" {
			t.Fatalf("case %d: field %q reason %q", i, r.Field, r.Reason)
		}
		if !r.Truncated && r.Original != strings.ToValidUTF8(string(body), "\uFFFD") {
			t.Fatalf("case %d: not truncated but changed", i)
		}
		if len(body) <= MaxOriginal && utf8.Valid(body) && (r.Truncated || r.Original != string(body)) {
			t.Fatalf("case %d: a short valid body was changed", i)
		}
		if utf8.Valid(body) && len(body) > MaxOriginal {
			if !r.Truncated || !bytes.HasPrefix(body, []byte(r.Original)) || len(r.Original) < MaxOriginal-3 {
				t.Fatalf("case %d: valid body of %d bytes kept %d bytes, truncated %v", i, len(body), len(r.Original), r.Truncated)
			}
		}
		// Invalid bytes never cost the valid text before them: only a
		// character the cut splits is dropped. (Unless the replacement
		// characters themselves push the text over the limit.)
		if len(body) > MaxOriginal && len(strings.ToValidUTF8(string(body[:MaxOriginal]), "\uFFFD")) <= MaxOriginal {
			want := strings.ToValidUTF8(string(body[:MaxOriginal-3]), "")
			if got := strings.ReplaceAll(r.Original, "\uFFFD", ""); !strings.HasPrefix(got, want) {
				t.Fatalf("case %d: lost valid text: kept %d bytes of %d", i, len(r.Original), len(body))
			}
		}
	}
}
