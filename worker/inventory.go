package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// inventory is the worker's view of the world: an in-memory mirror of the
// copies bucket (fed by copy.started/finished, by the bucket's watch and
// by DescribeImages reconciles), the conditions in force, and the pause
// switch. Evaluation reads it, never NATS. It owns the copies and
// conditions buckets.
type inventory struct {
	*base
	index  *policy.CopyIndex // safe for concurrent use
	intern interner          // has its own lock
	paused atomic.Pointer[PauseState]

	mu         sync.Mutex // guards conditions
	conditions map[string]condition

	// removed remembers recent removals from the copies bucket (copies.go).
	removed removals
	// listings is the reconcile's per-region state (reconcile.go).
	listings listings

	// judge decides a copy seen for the first time against the conditions
	// in force; New sets it to the decider's.
	judge func(ctx context.Context, c cloud.Copy) error
	// describeLimiter paces the region's DescribeImages calls.
	describeLimiter func(region string) callLimiter
}

func newInventory(b *base) *inventory {
	return &inventory{base: b, index: policy.NewCopyIndex(), conditions: map[string]condition{},
		removed: removals{keep: removedKeep(b.cfg.ReconcileEvery)}, listings: newListings(b.cfg.Regions),
		describeLimiter: func(region string) callLimiter { return b.limits.get(apiDescribe, region) }}
}

// PauseState is the value of the pause switch in the control bucket.
type PauseState struct {
	Paused bool      `json:"paused"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

// PauseKey is the control bucket key of the pause switch.
const PauseKey = "pause"

// HandleInventory applies one copy.started or copy.finished event to the
// shared inventory. A started copy is also judged against the conditions
// in force (a quarantine cancels copies that start after it).
func (i *inventory) HandleInventory(ctx context.Context, m Msg) (v Verdict) {
	defer i.recoverPanic(ctx, m, "inventory", &v)
	ev, err := event.Decode(m.Data, i.cfg.MaxBodySize)
	if err == nil {
		err = event.CheckSubject(ev, m.Subject, i.cfg.Prefix)
	}
	if err != nil {
		return i.reject(ctx, m, "inventory", err)
	}
	switch ev.Type {
	case event.TypeCopyStarted:
		cs, err := event.DecodeCopyStarted(ev)
		if err != nil {
			return i.reject(ctx, m, "inventory", err)
		}
		c := cs.Copy()
		if now := i.cfg.Now(); c.StartedAt.After(now.Add(maxFuture)) {
			// A start in the future would make the copy look young to every
			// age rule for as long as the clock is wrong.
			return i.reject(ctx, m, "inventory", &event.Error{Field: "data.started_at",
				Reason: fmt.Sprintf("%s is more than %s after this worker's clock (%s)", c.StartedAt.Format(time.RFC3339), maxFuture, now.Format(time.RFC3339))})
		}
		// The event can be older than a removal of the copy (a redelivery
		// after copy.finished or a cancel): then it must not add it back.
		at := ev.Time
		if at.IsZero() {
			at = c.StartedAt
		}
		s, err := i.storeCopy(ctx, c, observation{at: at, checkClaims: true, judge: true})
		if err != nil {
			return retryLater(i.log, m, "store copy", err)
		}
		if s.skipped != "" {
			i.log.Info("copy.started for a copy already gone; not added", zap.String("image_id", c.ImageID),
				zap.String("region", c.Region), zap.String("reason", s.skipped))
			return ack()
		}
		// Only the writer that created the key judges the copy; a
		// redelivery takes over a judge that failed half-way.
		if s.JudgePending && (s.created || m.Delivered > 1) {
			if err := i.judgeAndMark(ctx, s.Copy); err != nil {
				return retryLater(i.log, m, "apply conditions", err)
			}
		}
	case event.TypeCopyFinished:
		cf, err := event.DecodeCopyFinished(ev)
		if err != nil {
			return i.reject(ctx, m, "inventory", err)
		}
		if err := i.removeCopy(ctx, copyKeyOf(cf.Region, cf.ImageID)); err != nil {
			return retryLater(i.log, m, "remove copy", err)
		}
	default:
		return i.reject(ctx, m, "inventory", &event.Error{Field: "type", Reason: fmt.Sprintf("unknown inventory event type %q", ev.Type)})
	}
	return ack()
}

// maxFuture is how far a copy.started's started_at may lie ahead of this
// worker's clock (clock skew between producer and worker) before the
// event is rejected.
const maxFuture = 15 * time.Minute

// putCopy merges c into the copies bucket and mirrors it at once: the
// watch echo comes later, and a trigger right after copy.started should
// see the copy. It makes no check for removals; tests use it to seed.
func (i *inventory) putCopy(ctx context.Context, c cloud.Copy) error {
	_, err := i.storeCopy(ctx, c, observation{})
	return err
}

// removeCopy deletes a copy from the copies bucket and, once that
// worked, from the mirror.
func (i *inventory) removeCopy(ctx context.Context, key string) error {
	if err := i.cfg.Copies.Delete(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	i.ApplyCopy(key, nil, true)
	return nil
}

// ApplyCopy mirrors one change of the copies bucket; bus's watch calls it
// with every change. Deletes are remembered for a while (copies.go).
func (i *inventory) ApplyCopy(key string, val []byte, deleted bool) {
	if deleted {
		i.removed.note(key, i.cfg.Now())
		region, id, ok := splitCopyKey(key)
		if ok {
			i.index.Delete(region, id)
		}
		return
	}
	var sc storedCopy
	if err := json.Unmarshal(val, &sc); err != nil {
		i.log.Warn("inventory entry unreadable", zap.String("key", key), zap.Error(err))
		return
	}
	c := sc.Copy
	if old, ok := i.index.Get(c.Region, c.ImageID); ok {
		// The watch can deliver an older revision after this worker
		// mirrored its own newer write: never step back.
		c = mergeCopy(old, c)
	}
	i.intern.copy(&c)
	i.index.Put(c)
}

// ApplyControl mirrors one change of the control bucket.
func (i *inventory) ApplyControl(key string, val []byte, deleted bool) {
	if key != PauseKey {
		return
	}
	var p PauseState
	if !deleted {
		if err := json.Unmarshal(val, &p); err != nil {
			i.log.Warn("pause switch unreadable; treating it as on", zap.Error(err))
			p = PauseState{Paused: true, Reason: "unreadable pause switch"}
		}
	}
	i.paused.Store(&p)
	if p.Paused {
		i.m.Paused.Set(1)
		i.log.Warn("paused: cancels are held", zap.String("reason", p.Reason), zap.String("by", p.By))
	} else {
		i.m.Paused.Set(0)
		i.log.Info("resumed")
	}
}

// Paused reports the pause switch as this worker last saw it.
func (i *inventory) Paused() (PauseState, bool) {
	p := i.paused.Load()
	if p == nil || !p.Paused {
		return PauseState{}, false
	}
	return *p, true
}

// registerGauges adds the gauges that read the inventory's state.
func (i *inventory) registerGauges(reg prometheus.Registerer) {
	inv := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "copyguard", Name: "inventory_copies", Help: "In-flight copies known to this worker."},
		func() float64 { return float64(i.index.Len()) })
	cond := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "copyguard", Name: "active_conditions", Help: "Active conditions (quarantines and the like)."},
		func() float64 { i.mu.Lock(); defer i.mu.Unlock(); return float64(len(i.conditions)) })
	reg.MustRegister(inv, cond)
}
