package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// The copies bucket only moves forward (SPEC §10): an observation that
// arrives late, a copy.started delivered after a listing or a listing
// taken before a cancel, never takes a copy back.
//
//   - Every write is a compare-and-set: Get, merge, Update at the
//     revision read (Create for a new key); on a conflict, read and merge
//     again. Two writers never lose each other's progress.
//   - mergeCopy ranks the statuses Waiting < Creating < final and keeps
//     the progress within a status from going down.
//   - A key that is absent is only created by an observation that cannot
//     be older than the copy's removal: not if the copy has a decision in
//     the claims bucket (it was cancelled, or is being cancelled), and not
//     if this worker saw it removed after the observation was made.
//   - Only the writer whose Create succeeded judges the copy against the
//     conditions in force, so replicas never race on one decision.

// storedCopy is the value of a key in the copies bucket: the copy, and
// what copyguard itself knows about it. The embedded Copy keeps the JSON
// flat, so values written before these fields existed still read.
type storedCopy struct {
	cloud.Copy
	// SeenAt is when copyguard first observed the copy (zero in values
	// written by older workers). It bounds StartedAt for the removal grace:
	// a producer's clock cannot keep a copy in the inventory forever.
	SeenAt time.Time `json:"seen_at,omitzero"`
	// JudgePending is set by the Create that adds the copy and cleared
	// once the conditions in force have judged it; a judge that failed
	// half-way is taken over (see inventory.judgePending).
	JudgePending bool `json:"judge_pending,omitempty"`
}

// since is when the copy is known to have existed, as seen at now: the
// earlier of its start and its first observation. A start in the future
// (a producer's bad clock, year 9999) counts only from the observation,
// or, in a value written before SeenAt existed, not at all.
func (s storedCopy) since(now time.Time) time.Time {
	switch {
	case s.SeenAt.IsZero() && s.StartedAt.After(now):
		return time.Time{}
	case s.SeenAt.IsZero():
		return s.StartedAt
	case s.StartedAt.IsZero() || s.StartedAt.After(s.SeenAt):
		return s.SeenAt
	}
	return s.StartedAt
}

// statusRank orders a copy's statuses: a status never gives way to a
// lower one. Unknown statuses rank lowest.
func statusRank(status string) int {
	switch status {
	case cloud.StatusWaiting:
		return 1
	case cloud.StatusCreating:
		return 2
	case cloud.StatusAvailable, cloud.StatusCreateFailed:
		return 3
	}
	return 0
}

// mergeCopy keeps what only copy.started knows (the source), takes the
// newer side's other fields where it has them, and moves status and
// progress only forward: a lower-ranked status never replaces a higher
// one, and progress never goes down within a status.
func mergeCopy(old, c cloud.Copy) cloud.Copy {
	if c.SourceRegion == "" {
		c.SourceRegion = old.SourceRegion
	}
	if c.SourceImageID == "" {
		c.SourceImageID = old.SourceImageID
	}
	if c.Name == "" {
		c.Name = old.Name
	}
	if c.ResourceGroupID == "" {
		c.ResourceGroupID = old.ResourceGroupID
	}
	if len(c.Tags) == 0 {
		c.Tags = old.Tags
	}
	if c.StartedAt.IsZero() {
		c.StartedAt = old.StartedAt
	}
	if c.SizeGB == 0 {
		c.SizeGB = old.SizeGB
	}
	if c.ObservedAt.Before(old.ObservedAt) {
		c.ObservedAt = old.ObservedAt
	}
	switch ro, rc := statusRank(old.Status), statusRank(c.Status); {
	case rc < ro:
		c.Status, c.Progress = old.Status, old.Progress
	case rc == ro && c.Progress < old.Progress:
		c.Progress = old.Progress
	}
	return c
}

// observation is where a copy to store comes from.
type observation struct {
	// at is when the observation was made (a listing's start, an event's
	// time); a copy removed after it is not brought back. Zero: no check
	// (the copy is known to be new, as in tests).
	at time.Time
	// checkClaims looks the copy up in the claims bucket before adding it.
	checkClaims bool
	// judge marks a copy this write adds as still to be judged against
	// the conditions in force (JudgePending). Only seeding leaves it off.
	judge bool
}

// stored is what storeCopy did.
type stored struct {
	storedCopy
	created bool   // this write created the key: the writer judges it
	skipped string // why the copy was not added; "" when it was stored
}

// maxCASRounds bounds the read-merge-write loop; each lost round means
// another writer made progress, so running out is a real anomaly.
const maxCASRounds = 16

// storeCopy merges c into the copies bucket with compare-and-set and
// mirrors the result. A copy absent from the bucket is added only if obs
// may add it (see the top of this file).
func (i *inventory) storeCopy(ctx context.Context, c cloud.Copy, obs observation) (stored, error) {
	key := copyKey(c)
	if c.ObservedAt.IsZero() {
		c.ObservedAt = obs.at
		if c.ObservedAt.IsZero() {
			c.ObservedAt = i.cfg.Now()
		}
	}
	if old, ok := i.index.Get(c.Region, c.ImageID); ok {
		// The mirror can be ahead of what the bucket shows this writer
		// for a moment (a delete it has not seen yet): never behind it.
		c = mergeCopy(old, c)
	}
	for range maxCASRounds {
		val, rev, err := i.cfg.Copies.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			if why, err := i.mayAdd(ctx, key, obs); err != nil || why != "" {
				return stored{skipped: why}, err
			}
			sc := storedCopy{Copy: c, SeenAt: i.cfg.Now(), JudgePending: obs.judge}
			body, _ := json.Marshal(sc)
			_, err := i.cfg.Copies.Create(ctx, key, body, 0)
			if errors.Is(err, ErrExists) {
				continue // another writer added it first: merge into theirs
			}
			if err != nil {
				return stored{}, fmt.Errorf("store copy %s: %w", key, err)
			}
			i.index.Put(sc.Copy)
			return stored{storedCopy: sc, created: true}, nil
		}
		if err != nil {
			return stored{}, fmt.Errorf("store copy %s: %w", key, err)
		}
		old := decodeStored(val)
		sc := old
		sc.Copy = mergeCopy(old.Copy, c)
		if sc.SeenAt.IsZero() {
			sc.SeenAt = i.cfg.Now()
		}
		if unchanged(sc, old) {
			i.index.Put(sc.Copy)
			return stored{storedCopy: sc}, nil
		}
		if err := i.updateCopy(ctx, key, sc, rev); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return stored{}, err
		}
		return stored{storedCopy: sc}, nil
	}
	return stored{}, fmt.Errorf("store copy %s: %d revision conflicts in a row", key, maxCASRounds)
}

// observedRefresh is how stale a stored ObservedAt may get before an
// observation that changes nothing else is written: rewriting every copy
// on every listing would cost one KV write per copy and minute. The
// mirror of the replica that observed it is fresher; others may re-check
// a copy (recheck.go) that is fresher than they know.
const observedRefresh = 5 * time.Minute

// unchanged reports whether sc, merged from old, needs no write: only its
// ObservedAt moved, and by less than observedRefresh.
func unchanged(sc, old storedCopy) bool {
	if sc.ObservedAt.Sub(old.ObservedAt) < observedRefresh {
		sc.ObservedAt = old.ObservedAt
	}
	return reflect.DeepEqual(sc, old)
}

// updateCopy writes sc at rev and mirrors it.
func (i *inventory) updateCopy(ctx context.Context, key string, sc storedCopy, rev uint64) error {
	body, _ := json.Marshal(sc)
	if _, err := i.cfg.Copies.Update(ctx, key, body, rev); err != nil {
		return fmt.Errorf("store copy %s: %w", key, err)
	}
	i.index.Put(sc.Copy)
	return nil
}

// judged clears a copy's JudgePending once the conditions have judged
// it. A copy removed meanwhile needs nothing more.
func (i *inventory) judged(ctx context.Context, key string) error {
	for range maxCASRounds {
		val, rev, err := i.cfg.Copies.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mark copy %s judged: %w", key, err)
		}
		sc := decodeStored(val)
		if !sc.JudgePending {
			return nil
		}
		sc.JudgePending = false
		if err := i.updateCopy(ctx, key, sc, rev); !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("mark copy %s judged: %d revision conflicts in a row", key, maxCASRounds)
}

// judgeAndMark judges a copy against the conditions in force, then
// records that it was.
func (i *inventory) judgeAndMark(ctx context.Context, c cloud.Copy) error {
	if err := i.judge(ctx, c); err != nil {
		return err
	}
	return i.judged(ctx, copyKey(c))
}

// decodeStored reads a copies bucket value; an unreadable one counts as
// empty, so the merge rewrites it whole.
func decodeStored(val []byte) storedCopy {
	var sc storedCopy
	_ = json.Unmarshal(val, &sc)
	return sc
}

// mayAdd says why a copy absent from the bucket must not be added by
// obs, or "" if it may.
func (i *inventory) mayAdd(ctx context.Context, key string, obs observation) (string, error) {
	if !obs.at.IsZero() {
		if at, ok := i.removed.at(key); ok && at.After(obs.at) {
			return fmt.Sprintf("removed at %s, after the observation at %s", at.Format(time.RFC3339Nano), obs.at.Format(time.RFC3339Nano)), nil
		}
	}
	if !obs.checkClaims {
		return "", nil
	}
	val, _, err := i.cfg.Claims.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read claim %s: %w", key, err)
	}
	var cl claim
	if err := json.Unmarshal(val, &cl); err != nil {
		return "", fmt.Errorf("read claim %s: %w", key, err)
	}
	if cl.State != stateDone {
		// A cancel is under way: the copy has its decision and the actor
		// settles it; it is not new.
		return "claimed by trigger " + cl.Trigger.ID + " (" + string(cl.State) + ")", nil
	}
	if cl.Result != nil && (cl.Result.Outcome == string(cloud.OutcomeFailed) || cl.Result.Outcome == string(cloud.OutcomeHeld)) {
		return "", nil // not decided for good: still in flight, may be decided again
	}
	return "decided by trigger " + cl.Trigger.ID + ": " + cl.describe(), nil
}

// removals remembers when this worker saw copies leave the bucket (its
// own removals and the watch's deletes), so an observation made before a
// removal cannot bring the copy back. Entries older than keep are pruned:
// keep outlasts the longest listing.
type removals struct {
	mu     sync.Mutex
	times  map[string]time.Time
	keep   time.Duration
	pruned time.Time
}

func (r *removals) note(key string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.times == nil {
		r.times = map[string]time.Time{}
	}
	r.times[key] = now
	if now.Sub(r.pruned) < time.Minute {
		return
	}
	r.pruned = now
	for k, t := range r.times {
		if now.Sub(t) > r.keep {
			delete(r.times, k)
		}
	}
}

func (r *removals) at(key string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.times[key]
	return t, ok
}
