package worker

import (
	"encoding/json"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// The worker keeps in-memory mirrors of three shared buckets; bus watches
// them and calls these methods with every change, so evaluation reads
// memory, not NATS.

// PauseState is the value of the pause switch in the control bucket.
type PauseState struct {
	Paused bool      `json:"paused"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

// PauseKey is the control bucket key of the pause switch.
const PauseKey = "pause"

// condition is a trigger that stays in force (a policy with active_for):
// copies that start while it is active are judged against it.
type condition struct {
	Policy  string           `json:"policy"`
	Trigger policy.Trigger   `json:"trigger"`
	Ref     event.TriggerRef `json:"ref"`
	Expires time.Time        `json:"expires"`
}

// ApplyCopy mirrors one change of the inventory bucket.
func (w *Worker) ApplyCopy(key string, val []byte, deleted bool) {
	if deleted {
		region, id, ok := splitCopyKey(key)
		if ok {
			w.index.Delete(region, id)
		}
		return
	}
	var c cloud.Copy
	if err := json.Unmarshal(val, &c); err != nil {
		w.log.Warn("inventory entry unreadable", zap.String("key", key), zap.Error(err))
		return
	}
	w.intern.copy(&c)
	w.index.Put(c)
}

// ApplyCondition mirrors one change of the conditions bucket.
func (w *Worker) ApplyCondition(key string, val []byte, deleted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if deleted {
		delete(w.conditions, key)
		return
	}
	var c condition
	if err := json.Unmarshal(val, &c); err != nil {
		w.log.Warn("condition entry unreadable", zap.String("key", key), zap.Error(err))
		return
	}
	w.conditions[key] = c
}

// ApplyControl mirrors one change of the control bucket.
func (w *Worker) ApplyControl(key string, val []byte, deleted bool) {
	if key != PauseKey {
		return
	}
	var p PauseState
	if !deleted {
		if err := json.Unmarshal(val, &p); err != nil {
			w.log.Warn("pause switch unreadable; treating it as on", zap.Error(err))
			p = PauseState{Paused: true, Reason: "unreadable pause switch"}
		}
	}
	w.paused.Store(&p)
	if p.Paused {
		w.m.Paused.Set(1)
		w.log.Warn("paused: cancels are held", zap.String("reason", p.Reason), zap.String("by", p.By))
	} else {
		w.m.Paused.Set(0)
		w.log.Info("resumed")
	}
}

// activeConditions returns the conditions in force at now.
func (w *Worker) activeConditions(now time.Time) map[string]condition {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]condition, len(w.conditions))
	for k, c := range w.conditions {
		if now.Before(c.Expires) {
			out[k] = c
		}
	}
	return out
}
