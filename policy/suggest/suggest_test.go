package suggest

import "testing"

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"policy", "policy", 0},
		{"polcy", "policy", 1},
		{"budget.exceded", "budget.exceeded", 1},
		{"kitten", "sitting", 3},
		{"ab", "ba", 2},
		{"régions", "regions", 1}, // runes, not bytes
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			if got := Distance(tt.a, tt.b); got != tt.want {
				t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Distance(tt.b, tt.a); got != tt.want {
				t.Errorf("Distance(%q, %q) = %d, want %d (not symmetric)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}

func TestClosest(t *testing.T) {
	flags := []string{"policy", "nats-url", "regions", "dry-run", "qps", "burst", "replicas"}
	types := []string{"budget.exceeded", "region.quarantined", "region.released", "cancel.requested"}
	tests := []struct {
		name    string
		got     string
		choices []string
		want    string
	}{
		{"dropped letter", "polcy", flags, "policy"},
		{"swapped letters", "plociy", flags, ""}, // three edits: not a likely typo
		{"two slips", "nats_ur", flags, "nats-url"},
		{"upper case", "POLICY", flags, "policy"},
		{"exact", "regions", flags, "regions"},
		{"short word needs a close miss", "qs", flags, "qps"},
		{"short word, far", "xy", flags, ""},
		{"nothing near", "frobnicate", flags, ""},
		{"trigger type", "budget.exceded", types, "budget.exceeded"},
		{"nearest of two", "region.release", types, "region.released"},
		{"no choices", "policy", nil, ""},
		{"empty input", "", flags, ""},
		{"first of equally near", "burst", []string{"bursts", "burst2"}, "bursts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Closest(tt.got, tt.choices); got != tt.want {
				t.Errorf("Closest(%q) = %q, want %q", tt.got, got, tt.want)
			}
		})
	}
}
