package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxRateLimit bounds N in max_rate. The worker keeps one entry (about
// 50 bytes) per cancel granted in the window in a single KV value and
// rewrites that value on every grant, so filling a window costs O(N²)
// bytes written: about 25 MB for N=1000, which is where it stops being
// cheap. A larger budget over a longer window is better said with a
// shorter window (1000/1h rather than 24000/1d).
const MaxRateLimit = 1000

// Rate is a policy's rolling cap, max_rate "N/DURATION": at most N cancels
// by the policy in any window of that length, across the fleet.
type Rate struct {
	N      int
	Window time.Duration
	// Text is the value as written ("100/10m"), for reasons and listings.
	Text string
}

// IsZero reports whether no max_rate was set.
func (r Rate) IsZero() bool { return r.N == 0 }

func (r Rate) String() string { return r.Text }

// parseRate reads "N/DURATION": N a whole number from 1 to MaxRateLimit,
// DURATION as active_for takes it ("10m", "6h", "7d").
func parseRate(s string) (Rate, error) {
	ns, ds, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("want N/DURATION, e.g. \"100/10m\", got %q", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(ns))
	if err != nil {
		return Rate{}, fmt.Errorf("%q: N must be a whole number, got %q", s, ns)
	}
	if n < 1 || n > MaxRateLimit {
		return Rate{}, fmt.Errorf("%q: N must be from 1 to %d, got %d", s, MaxRateLimit, n)
	}
	d, err := parseDuration(strings.TrimSpace(ds))
	if err != nil {
		return Rate{}, fmt.Errorf("%q: %v", s, err)
	}
	return Rate{N: n, Window: d, Text: s}, nil
}
