package policy

import (
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
