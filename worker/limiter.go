package worker

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a per-region token bucket that halves its rate when the API
// answers Throttling and creeps back to the configured rate on success, so
// one throttled region slows itself down without slowing the others.
type limiter struct {
	mu      sync.Mutex
	lim     *rate.Limiter
	base    rate.Limit
	floor   rate.Limit
	changed time.Time
	now     func() time.Time
}

func newLimiter(qps float64, burst int, now func() time.Time) *limiter {
	base := rate.Limit(qps)
	return &limiter{lim: rate.NewLimiter(base, burst), base: base, floor: base / 16, now: now}
}

func (l *limiter) Wait(ctx context.Context) error { return l.lim.Wait(ctx) }

// Throttled halves the rate, at most once per second so a burst of
// throttled answers from calls already in flight counts as one signal.
func (l *limiter) Throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	if t.Sub(l.changed) < time.Second {
		return
	}
	l.changed = t
	l.lim.SetLimitAt(t, max(l.lim.Limit()/2, l.floor))
}

// Succeeded raises a lowered rate by a quarter, at most once per second.
func (l *limiter) Succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.lim.Limit()
	t := l.now()
	if cur >= l.base || t.Sub(l.changed) < time.Second {
		return
	}
	l.changed = t
	l.lim.SetLimitAt(t, min(cur*1.25, l.base))
}

// Rate is the current rate in calls per second.
func (l *limiter) Rate() float64 { return float64(l.lim.Limit()) }
