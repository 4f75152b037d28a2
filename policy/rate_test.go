package policy

import (
	"strings"
	"testing"
	"time"
)

func TestMaxRateLoads(t *testing.T) {
	tests := []struct {
		val    string
		n      int
		window time.Duration
	}{
		{"100/10m", 100, 10 * time.Minute},
		{`"1/7d"`, 1, 7 * 24 * time.Hour},
		{"3/1d12h", 3, 36 * time.Hour},
		{"1000/90s", 1000, 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.val, func(t *testing.T) {
			set := mustParse(t, "policies:\n  - {name: a, on: [x], match: 'true', action: cancel, max_rate: "+tt.val+"}\n")
			r := set.Policy("a").MaxRate
			if r.N != tt.n || r.Window != tt.window || r.IsZero() {
				t.Errorf("got %+v, want %d per %v", r, tt.n, tt.window)
			}
		})
	}
	set := mustParse(t, "policies:\n  - {name: a, on: [x], match: 'true', action: cancel}\n")
	if r := set.Policy("a").MaxRate; !r.IsZero() {
		t.Errorf("no max_rate: got %+v", r)
	}
}

// TestParseRateRefuses fixes the text of every way a max_rate value can
// be wrong: the loader shows it after the value's file:line:col.
func TestParseRateRefuses(t *testing.T) {
	tests := []struct{ in, want string }{
		{"100", `want N/DURATION, e.g. "100/10m", got "100"`},
		{"", `want N/DURATION, e.g. "100/10m", got ""`},
		{"x/10m", `"x/10m": N must be a whole number, got "x"`},
		{"1.5/10m", `"1.5/10m": N must be a whole number, got "1.5"`},
		{"0/10m", `"0/10m": N must be from 1 to 1000, got 0`},
		{"-3/10m", `"-3/10m": N must be from 1 to 1000, got -3`},
		{"1001/1h", `"1001/1h": N must be from 1 to 1000, got 1001`},
		{"10/", `"10/": `},
		{"10/soon", `"10/soon": `},
		{"10/0s", `"10/0s": `},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := parseRate(tt.in)
			if err == nil {
				t.Fatalf("parseRate(%q) = %+v, want an error", tt.in, r)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("parseRate(%q) error\n%s\nwant it to start with\n%s", tt.in, err, tt.want)
			}
		})
	}
	// Spaces around either part are fine; the text is kept as written.
	r, err := parseRate(" 5 / 1m ")
	if err != nil || r.N != 5 || r.Window != time.Minute || r.Text != " 5 / 1m " || r.String() != " 5 / 1m " {
		t.Errorf("parseRate with spaces = %+v, %v", r, err)
	}
}
