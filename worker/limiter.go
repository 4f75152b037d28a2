package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// limiter is one API budget for a region shared by every replica:
// the API's limit is per account and region, so three replicas at --qps
// 20 must send 20 calls a second together, not 60.
//
// It is GCRA (a token bucket written as one timestamp) kept in a KV key:
// the key holds the slot of the last call granted. A call takes the slot
// max(last+1/rate, now-(burst-1)/rate) with a compare-and-set, so two
// replicas never take the same slot, and sleeps until it. Calls come out
// evenly spaced across the fleet, which is what keeps any one-second
// window near the rate; a rate that was just halved spaces the very next
// call at the new rate.
//
// The rate lives in the same key: Throttling answered to any replica
// halves it for all of them (at most once a second, down to rate/16), and
// successes raise it by a quarter a second back to the configured rate.
type limiter struct {
	kv    KV
	key   string
	base  float64
	burst int
	now   func() time.Time

	// mu serialises this process's reservations: its handlers would
	// otherwise fight each other's compare-and-sets, not only other
	// replicas'. It is held for one KV round trip, never while sleeping.
	mu     sync.Mutex
	cached *budget // the value at rev, as last read or written here
	rev    uint64
}

// budget is the KV value of a region's shared limiter.
type budget struct {
	Last    int64   `json:"last"`    // unix ns: the slot of the last call granted
	Rate    float64 `json:"rate"`    // calls per second for the fleet now
	Changed int64   `json:"changed"` // unix ns of the last rate change
}

func newLimiter(kv KV, key string, qps float64, burst int, now func() time.Time) *limiter {
	return &limiter{kv: kv, key: key, base: qps, burst: max(burst, 1), now: now}
}

// The APIs a limiter budgets.
const (
	apiCancel   = "cancel"   // CancelCopyImage
	apiDescribe = "describe" // DescribeImages, for the reconcile
)

// limiters hands out the fleet's limiter of each API and region, made on
// first use. The actor takes "cancel" budgets, the reconcile "describe"
// ones: ECS limits each API on its own.
type limiters struct {
	kv    KV
	qps   float64
	burst int
	now   func() time.Time

	mu sync.Mutex // guards m
	m  map[string]*limiter
}

func newLimiters(kv KV, qps float64, burst int, now func() time.Time) *limiters {
	return &limiters{kv: kv, qps: qps, burst: burst, now: now, m: map[string]*limiter{}}
}

// get returns the limiter of api ("cancel", "describe") in region.
func (ls *limiters) get(api, region string) *limiter {
	key := limiterKey(api, region)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.m[key]
	if !ok {
		l = newLimiter(ls.kv, key, ls.qps, ls.burst, ls.now)
		ls.m[key] = l
	}
	return l
}

// Wait reserves the region's next call slot and sleeps until it. An error
// means the budget could not be read or written (NATS is away), or ctx
// ended.
func (l *limiter) Wait(ctx context.Context) error {
	d, err := l.reserve(ctx)
	if err != nil {
		return err
	}
	if d > 0 && !sleep(ctx, d) {
		return ctx.Err()
	}
	return nil
}

// reserve takes the next slot and returns how long until it.
func (l *limiter) reserve(ctx context.Context) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range 100 {
		b, err := l.current(ctx)
		if err != nil {
			return 0, err
		}
		now := l.now().UnixNano()
		interval := int64(float64(time.Second) / l.rate(b))
		slot := max(b.Last+interval, now-int64(l.burst-1)*interval)
		nb := *b
		nb.Last = slot
		if err := l.write(ctx, nb); err != nil {
			if errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) {
				continue // another replica took a slot: read and try again
			}
			return 0, err
		}
		return time.Duration(slot - now), nil
	}
	return 0, fmt.Errorf("limiter %s: too much contention", l.key)
}

// rate is the fleet's current rate, never above this replica's setting.
func (l *limiter) rate(b *budget) float64 {
	if b.Rate <= 0 || b.Rate > l.base {
		return l.base
	}
	return b.Rate
}

// Throttled halves the fleet's rate, at most once a second so the answers
// of calls already in flight count as one signal. Best effort: if the KV
// cannot be written the rate stays, and the retry backs off anyway.
func (l *limiter) Throttled(ctx context.Context) error {
	return l.adjust(ctx, func(b *budget) bool {
		r := l.rate(b)
		floor := l.base / 16
		if r <= floor {
			return false
		}
		b.Rate = max(r/2, floor)
		return true
	})
}

// Succeeded raises a lowered rate by a quarter, at most once a second. It
// reads only the cached value when the rate is already at the base, so a
// success costs no round trip in the normal case.
func (l *limiter) Succeeded(ctx context.Context) error {
	l.mu.Lock()
	full := l.cached != nil && l.rate(l.cached) >= l.base
	l.mu.Unlock()
	if full {
		return nil
	}
	return l.adjust(ctx, func(b *budget) bool {
		r := l.rate(b)
		if r >= l.base {
			return false
		}
		b.Rate = min(r*1.25, l.base)
		return true
	})
}

func (l *limiter) adjust(ctx context.Context, change func(*budget) bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range 100 {
		b, err := l.current(ctx)
		if err != nil {
			return err
		}
		now := l.now().UnixNano()
		if now-b.Changed < int64(time.Second) {
			return nil
		}
		nb := *b
		if !change(&nb) {
			return nil
		}
		nb.Changed = now
		if err := l.write(ctx, nb); err != nil {
			if errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) {
				continue
			}
			return err
		}
		return nil
	}
	return fmt.Errorf("limiter %s: too much contention", l.key)
}

// Rate is the fleet's rate as this replica last saw it.
func (l *limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cached == nil {
		return l.base
	}
	return l.rate(l.cached)
}

// current returns the cached value, or reads it after a conflict. A
// missing key is a fresh budget (rev 0: the next write creates it).
func (l *limiter) current(ctx context.Context) (*budget, error) {
	if l.cached != nil {
		return l.cached, nil
	}
	val, rev, err := l.kv.Get(ctx, l.key)
	if errors.Is(err, ErrNotFound) {
		l.cached, l.rev = &budget{Rate: l.base}, 0
		return l.cached, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read limiter %s: %w", l.key, err)
	}
	var b budget
	if err := json.Unmarshal(val, &b); err != nil {
		// A value this version cannot read is replaced, not obeyed.
		b = budget{Rate: l.base}
	}
	l.cached, l.rev = &b, rev
	return l.cached, nil
}

// write stores b if the key is still at the cached revision. On any error
// the cache is dropped, so the next attempt reads the key again.
func (l *limiter) write(ctx context.Context, b budget) error {
	val, _ := json.Marshal(b)
	var rev uint64
	var err error
	if l.rev == 0 {
		rev, err = l.kv.Create(ctx, l.key, val, 0)
	} else {
		rev, err = l.kv.Update(ctx, l.key, val, l.rev)
	}
	if err != nil {
		l.cached, l.rev = nil, 0
		return err
	}
	l.cached, l.rev = &b, rev
	return nil
}
