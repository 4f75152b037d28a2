package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/copyguard/copyguard/policy"
)

// rateWindow enforces one policy's max_rate ("N/DURATION") for the whole
// fleet: at most N cancels decided by the policy in any window of that
// length. It is exact for the sliding window: the limits bucket holds, in
// one key per policy (rateKey), the grant time of every cancel in the
// window, oldest first; a grant prunes the entries older than the window,
// and takes a slot only while fewer than N are left, with a
// compare-and-set, so two replicas never both take the last slot.
//
// Cost: the value holds up to N entries of about 50 bytes and is
// rewritten on every grant, so a grant costs O(N) bytes and filling a
// window O(N²): ~5 KB per grant and ~2.5 MB per window at N=100, ~50 KB
// and ~25 MB at N=1000 (policy.MaxRateLimit). Denials read the key but
// write nothing.
//
// Each entry names the (trigger, copy) it was granted to, so asking again
// for the same grant (a trigger redelivered after a crash between the
// grant and the claim) takes no second slot.
type rateWindow struct {
	kv  KV
	key string
	now func() time.Time

	// mu serialises this process's grants, as in limiter: its handlers
	// would otherwise fight each other's compare-and-sets.
	mu     sync.Mutex
	cached *rateValue
	rev    uint64
}

// rateValue is the KV value of a policy's window.
type rateValue struct {
	Policy string      `json:"policy"`
	Rate   string      `json:"rate"`   // as written, "100/10m"
	Grants []rateGrant `json:"grants"` // oldest first
}

// rateGrant is one cancel counted in the window.
type rateGrant struct {
	At int64  `json:"at"` // unix ns
	ID string `json:"id"` // rateGrantID: the trigger and copy it went to
}

// rates hands out each policy's window, made on first use.
type rates struct {
	kv  KV
	now func() time.Time

	mu sync.Mutex // guards m
	m  map[string]*rateWindow
}

func newRates(kv KV, now func() time.Time) *rates {
	return &rates{kv: kv, now: now, m: map[string]*rateWindow{}}
}

func (rs *rates) window(name string) *rateWindow {
	key := rateKey(name)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	w, ok := rs.m[key]
	if !ok {
		w = &rateWindow{kv: rs.kv, key: key, now: rs.now}
		rs.m[key] = w
	}
	return w
}

// admit decides whether a cancel selected by the live (cancelling)
// policies may go ahead under their max_rate: it takes a slot from each
// capped policy with room, and allows the cancel if it got one or if one
// of the policies has no max_rate (one policy's cap does not speak for
// another, as with max_cancels). held names the caps that stopped it.
func (rs *rates) admit(ctx context.Context, set *policy.Set, names []string, id string) (held string, err error) {
	var full []string
	free := false
	for _, name := range names {
		p := set.Policy(name)
		if p == nil || p.MaxRate.IsZero() {
			free = true
			continue
		}
		ok, err := rs.window(name).take(ctx, p, id)
		if err != nil {
			return "", err
		}
		if ok {
			free = true
			continue
		}
		full = append(full, fmt.Sprintf("max_rate %s of policy %q reached", p.MaxRate, name))
	}
	if free || len(full) == 0 {
		return "", nil
	}
	return "held: " + strings.Join(full, "; "), nil
}

// capped reports whether any of the policies has a max_rate.
func capped(set *policy.Set, names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool {
		p := set.Policy(n)
		return p != nil && !p.MaxRate.IsZero()
	})
}

// take grants id a slot in p's window, or reports that the window is full.
// A grant already made to id within the window is returned again.
func (w *rateWindow) take(ctx context.Context, p *policy.Policy, id string) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fresh := false // the value was read from KV in this call
	for range 100 {
		if w.cached == nil {
			if err := w.read(ctx); err != nil {
				return false, err
			}
			fresh = true
		}
		now := w.now()
		v := rateValue{Policy: p.Name, Rate: p.MaxRate.Text, Grants: live(w.cached.Grants, now.Add(-p.MaxRate.Window))}
		if slices.ContainsFunc(v.Grants, func(g rateGrant) bool { return g.ID == id }) {
			return true, nil
		}
		if len(v.Grants) >= p.MaxRate.N {
			if !fresh {
				// The cache may be stale; deny only on what KV holds now.
				w.cached = nil
				continue
			}
			return false, nil
		}
		v.Grants = append(v.Grants, rateGrant{At: now.UnixNano(), ID: id})
		if err := w.write(ctx, v); err != nil {
			if errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) {
				fresh = false
				continue // another replica granted a slot: read and try again
			}
			return false, err
		}
		return true, nil
	}
	return false, fmt.Errorf("rate window %s: too much contention", w.key)
}

// live returns the grants after since (a new slice).
func live(gs []rateGrant, since time.Time) []rateGrant {
	cut := since.UnixNano()
	out := make([]rateGrant, 0, len(gs)+1)
	for _, g := range gs {
		if g.At > cut {
			out = append(out, g)
		}
	}
	return out
}

func (w *rateWindow) read(ctx context.Context) error {
	val, rev, err := w.kv.Get(ctx, w.key)
	if errors.Is(err, ErrNotFound) {
		w.cached, w.rev = &rateValue{}, 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("read rate window %s: %w", w.key, err)
	}
	var v rateValue
	if err := json.Unmarshal(val, &v); err != nil {
		// Unreadable: start the window again rather than stop cancelling.
		v = rateValue{}
	}
	w.cached, w.rev = &v, rev
	return nil
}

func (w *rateWindow) write(ctx context.Context, v rateValue) error {
	val, _ := json.Marshal(v)
	var rev uint64
	var err error
	if w.rev == 0 {
		rev, err = w.kv.Create(ctx, w.key, val, 0)
	} else {
		rev, err = w.kv.Update(ctx, w.key, val, w.rev)
	}
	if err != nil {
		w.cached, w.rev = nil, 0
		return err
	}
	w.cached, w.rev = &v, rev
	return nil
}
