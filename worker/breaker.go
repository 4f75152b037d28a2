package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
)

// The circuit breaker of a region (SPEC §11), shared by the fleet in the
// limits bucket (key breakerKey, value breakerState):
//
//	closed ──BreakerThreshold consecutive credential errors, any replica, any call──► open
//	  ▲                                                                               │
//	  └──── a probe (DescribeImages PageSize=1, one replica every BreakerProbe) ◄─────┘
//	        or any other call answers
//
// A credential error (cloud.IsCredentialError: a bad, disabled or
// unauthorized key) counts one; an answer from the API (success, or an
// outcome such as NotFound) resets the count and closes the circuit; other
// errors leave it as it is. While open nobody calls the region: cancels
// are held (a non-final held result, the job kept and handed back), the
// reconcile skips it, and /readyz says so.
//
// Replicas read the key at most once a second per region (breakerCacheFor)
// before calls; a write goes through compare-and-set, so two replicas'
// counts add up and exactly one replica takes each probe.

// breakerCacheFor is how long a replica trusts its copy of a region's
// breaker before reading the key again.
const breakerCacheFor = time.Second

// breakerState is the KV value of a region's breaker.
type breakerState struct {
	Open bool `json:"open"`
	// Failures counts consecutive credential errors, fleet-wide.
	Failures int       `json:"failures"`
	Code     string    `json:"code,omitempty"` // of the last credential error
	Message  string    `json:"message,omitempty"`
	OpenedAt time.Time `json:"opened_at,omitzero"`
	OpenedBy string    `json:"opened_by,omitempty"` // instance
	// NextProbe is when the next probe is due; the replica that moves it
	// on (compare-and-set) makes the probe.
	NextProbe time.Time `json:"next_probe,omitzero"`
}

// Prober proves access to a region with the cheapest call:
// cloud/ecs.Client.Probe (DescribeImages, PageSize=1).
type Prober interface {
	Probe(ctx context.Context, region string) error
}

// breaker is this replica's handle on one region's shared breaker.
type breaker struct {
	region string
	key    string
	bs     *breakers

	mu     sync.Mutex // serialises this process's writes; guards the cache
	cached *breakerState
	rev    uint64
	readAt time.Time
}

// breakers holds every region's breaker, made on first use, and the
// settings they share.
type breakers struct {
	kv        KV
	threshold int
	every     time.Duration // between probes
	now       func() time.Time
	instance  string
	log       *zap.Logger
	gauge     *prometheus.GaugeVec // copyguard_circuit_open{region}
	label     func(region string) string

	mu sync.Mutex // guards m
	m  map[string]*breaker
}

func newBreakers(kv KV, threshold int, every time.Duration, instance string, now func() time.Time, log *zap.Logger, gauge *prometheus.GaugeVec, label func(region string) string) *breakers {
	return &breakers{kv: kv, threshold: threshold, every: every, instance: instance, now: now, log: log, gauge: gauge, label: label, m: map[string]*breaker{}}
}

func (bs *breakers) get(region string) *breaker {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b, ok := bs.m[region]
	if !ok {
		b = &breaker{region: region, key: breakerKey(region), bs: bs}
		bs.m[region] = b
		bs.gauge.WithLabelValues(bs.label(region)).Set(0)
	}
	return b
}

// regions lists the regions with a breaker, sorted.
func (bs *breakers) regions() []string {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	out := make([]string, 0, len(bs.m))
	for r := range bs.m {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// state returns the region's breaker as the fleet last wrote it, reading
// the key when the cached copy is older than breakerCacheFor. A KV error
// is returned: without the breaker's state, calling is a guess.
func (b *breaker) state(ctx context.Context) (breakerState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cached != nil && b.bs.now().Sub(b.readAt) < breakerCacheFor {
		return *b.cached, nil
	}
	if err := b.read(ctx); err != nil {
		return breakerState{}, err
	}
	return *b.cached, nil
}

// peek returns the cached state without I/O (for /readyz).
func (b *breaker) peek() (breakerState, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cached == nil {
		return breakerState{}, false
	}
	return *b.cached, true
}

// record counts the answer of one call in the region: a credential error
// counts towards opening, an answer from the API closes. Other errors say
// nothing about credentials and change nothing.
func (b *breaker) record(ctx context.Context, callErr error) error {
	class, _ := cloud.Classify(callErr)
	switch {
	case cloud.IsCredentialError(callErr):
		var ae *cloud.APIError
		errors.As(callErr, &ae)
		return b.update(ctx, func(s *breakerState, now time.Time) bool {
			s.Failures++
			s.Code, s.Message = ae.Code, ae.Message
			if !s.Open && s.Failures >= b.bs.threshold {
				s.Open, s.OpenedAt, s.OpenedBy, s.NextProbe = true, now, b.bs.instance, now.Add(b.bs.every)
			}
			return true
		})
	case class == cloud.ClassNone || class == cloud.ClassOutcome:
		b.mu.Lock()
		quiet := b.cached != nil && !b.cached.Open && b.cached.Failures == 0
		b.mu.Unlock()
		if quiet {
			return nil // the normal case costs no round trip
		}
		return b.update(ctx, func(s *breakerState, _ time.Time) bool {
			if !s.Open && s.Failures == 0 {
				return false
			}
			*s = breakerState{}
			return true
		})
	}
	return nil
}

// claimProbe moves the next probe time on if it is due, and reports
// whether this replica won the probe.
func (b *breaker) claimProbe(ctx context.Context) (bool, error) {
	won := false
	err := b.update(ctx, func(s *breakerState, now time.Time) bool {
		// update calls this again after a lost compare-and-set: only the
		// last call, the one whose write succeeded, may say "won".
		won = false
		if !s.Open || now.Before(s.NextProbe) {
			return false
		}
		s.NextProbe, won = now.Add(b.bs.every), true
		return true
	})
	return won, err
}

// update applies change to the current state with compare-and-set,
// rereading on conflict; change returns false to write nothing. It logs
// and sets the metric when the circuit opens or closes.
func (b *breaker) update(ctx context.Context, change func(*breakerState, time.Time) bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for range 100 {
		if b.cached == nil {
			if err := b.read(ctx); err != nil {
				return err
			}
		}
		was := *b.cached
		s := was
		if !change(&s, b.bs.now()) {
			return nil
		}
		val, _ := json.Marshal(s)
		var rev uint64
		var err error
		if b.rev == 0 {
			rev, err = b.bs.kv.Create(ctx, b.key, val, 0)
		} else {
			rev, err = b.bs.kv.Update(ctx, b.key, val, b.rev)
		}
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) {
			b.cached = nil // another replica wrote: read and apply again
			continue
		}
		if err != nil {
			b.cached = nil
			return fmt.Errorf("write circuit breaker %s: %w", b.key, err)
		}
		b.cached, b.rev, b.readAt = &s, rev, b.bs.now()
		b.changed(was, s)
		return nil
	}
	return fmt.Errorf("circuit breaker %s: too much contention", b.key)
}

// read loads the key into the cache. Called with mu held.
func (b *breaker) read(ctx context.Context) error {
	val, rev, err := b.bs.kv.Get(ctx, b.key)
	var s breakerState
	switch {
	case errors.Is(err, ErrNotFound):
		rev = 0
	case err != nil:
		return fmt.Errorf("read circuit breaker %s: %w", b.key, err)
	default:
		if json.Unmarshal(val, &s) != nil {
			s = breakerState{} // unreadable: closed, as a fresh key
		}
	}
	was := breakerState{}
	if b.cached != nil {
		was = *b.cached
	}
	b.cached, b.rev, b.readAt = &s, rev, b.bs.now()
	b.changed(was, s)
	return nil
}

// changed logs and sets the metric when this replica sees the circuit
// open or close, whoever did it.
func (b *breaker) changed(was, now breakerState) {
	if was.Open == now.Open {
		return
	}
	log := b.bs.log.With(zap.String("region", b.region))
	if now.Open {
		b.bs.gauge.WithLabelValues(b.bs.label(b.region)).Set(1)
		log.Error("circuit open: cloud calls in this region stop; cancels are held until a probe succeeds",
			zap.String("code", now.Code), zap.String("message", now.Message), zap.Int("failures", now.Failures),
			zap.String("opened_by", now.OpenedBy), zap.Duration("probe_every", b.bs.every))
		return
	}
	b.bs.gauge.WithLabelValues(b.bs.label(b.region)).Set(0)
	log.Warn("circuit closed: cloud access works again; held cancels resume")
}

// heldReason is the reason of a cancel held by an open circuit.
func (s breakerState) heldReason() string { return "circuit open: " + s.Code }

// RunBreakers probes every open circuit when its probe is due, until ctx
// ends; the replica that claims the probe makes it. A success closes the
// circuit for the fleet.
func (bs *breakers) run(ctx context.Context, probe func(context.Context, string) error) {
	if probe == nil {
		return
	}
	t := time.NewTicker(min(bs.every, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, region := range bs.regions() {
			bs.probeIfDue(ctx, region, probe)
		}
	}
}

func (bs *breakers) probeIfDue(ctx context.Context, region string, probe func(context.Context, string) error) {
	b := bs.get(region)
	s, err := b.state(ctx)
	if err != nil || !s.Open || bs.now().Before(s.NextProbe) {
		return
	}
	won, err := b.claimProbe(ctx)
	if err != nil || !won {
		return
	}
	err = probe(ctx, region)
	if rerr := b.record(ctx, err); rerr != nil {
		bs.log.Warn("record probe", zap.String("region", region), zap.Error(rerr))
	}
	if err != nil {
		bs.log.Info("circuit probe failed; still open", zap.String("region", region), zap.Error(err))
	}
}
