package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// What the decider records so that a decision can be checked afterwards
// (SPEC §11, Audit): the copies as seen, why nothing was selected, and
// one meaning per trigger id.

// trig is the trigger a plan is applied for: its reference, the trigger
// itself where the re-check may need it, the policy set that judged it,
// and its traceparent (trace.go).
type trig struct {
	ref         event.TriggerRef
	t           *policy.Trigger
	set         *policy.Set
	traceparent string
}

// seenCopy is a decided copy in a decision event, with the copy as the
// worker saw it, so that the decision can be replayed.
func seenCopy(pd policy.Decision) event.DecidedCopy {
	p := pd.Copy.Progress
	return event.DecidedCopy{
		ImageID: pd.Copy.ImageID, Region: pd.Copy.Region, Policies: pd.Policies, Reason: pd.Reason,
		Status: pd.Copy.Status, Progress: &p, Tags: pd.Copy.Tags, ObservedAt: pd.Copy.ObservedAt,
	}
}

// triggerSeen is the value of a trigger id key (ids.go triggerIDKey).
type triggerSeen struct {
	Hash      string    `json:"hash"`
	Type      string    `json:"type"`
	FirstSeen time.Time `json:"first_seen"`
}

// contentHash names what a trigger says: its type, subject, time and
// data (re-encoded, so the order of keys and the spacing do not count).
func contentHash(t policy.Trigger) string {
	data, _ := json.Marshal(t.Data)
	h := sha256.New()
	for _, part := range []string{t.Type, t.Subject, t.Time.UTC().Format(time.RFC3339Nano), string(data)} {
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// checkTriggerID remembers the content each trigger (source, id) was
// first used for, in the claims bucket, for as long as the bucket keeps
// claims: the claims, jobs, conditions and the decision a trigger makes
// are all named by its (source, id), so an event that reuses the id for
// something else would act under the first one's name and have its
// decision dropped as a duplicate. The same id with the same content is a
// redelivery or a second replica: fine. With other content it returns
// the reason to reject it.
func (d *decider) checkTriggerID(ctx context.Context, ref event.TriggerRef, t policy.Trigger, now time.Time) (reused string, err error) {
	key := triggerIDKey(ref)
	rec := triggerSeen{Hash: contentHash(t), Type: t.Type, FirstSeen: now.UTC()}
	body, _ := json.Marshal(rec)
	_, err = d.cfg.Claims.Create(ctx, key, body, 0)
	if err == nil {
		return "", nil
	}
	if !errors.Is(err, ErrExists) {
		return "", fmt.Errorf("record trigger id %s: %w", key, err)
	}
	val, _, err := d.cfg.Claims.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return "", nil // expired between the two calls: nothing to compare with
	}
	if err != nil {
		return "", fmt.Errorf("read trigger id %s: %w", key, err)
	}
	var first triggerSeen
	if json.Unmarshal(val, &first) != nil || first.Hash == rec.Hash {
		return "", nil
	}
	return fmt.Sprintf("id %q from source %q was already used for a different event (first seen at %s)",
		ref.ID, ref.Source, first.FirstSeen.Format(time.RFC3339)), nil
}

// note says why a plan selected nothing, where that is cheap to tell:
// which copy or region the trigger names and what the inventory knows.
func (d *decider) note(set *policy.Set, t policy.Trigger, plan *policy.Plan) string {
	watched := "regions watched: " + strings.Join(d.cfg.Regions, ", ")
	if len(d.cfg.Regions) == 0 {
		watched = "no regions watched (the inventory comes from copy.started only)"
	}
	listening, cancels := 0, 0
	for _, p := range set.Policies() {
		if p.Enabled && p.Listens(t.Type) {
			listening++
			if p.Action == policy.ActionCancel {
				cancels++
			}
		}
	}
	switch {
	case listening == 0:
		return fmt.Sprintf("no enabled policy listens to %q", t.Type)
	case cancels == 0:
		return fmt.Sprintf("no enabled cancel policy listens to %q", t.Type)
	case !slices.ContainsFunc(plan.Fired, func(name string) bool {
		p := set.Policy(name)
		return p != nil && p.Action == policy.ActionCancel
	}):
		if len(plan.Refused) > 0 {
			return "" // sourceNote says why
		}
		return "no cancel policy fired: their when was false for this trigger"
	}
	region, _ := t.Data["region"].(string)
	id, _ := t.Data["image_id"].(string)
	unwatched := ""
	if region != "" && len(d.cfg.Regions) > 0 && !slices.Contains(d.cfg.Regions, region) {
		unwatched = fmt.Sprintf(" (%s is not one of them)", region)
	}
	switch {
	case id != "" && region != "":
		if _, ok := d.inv.index.Get(region, id); !ok {
			return fmt.Sprintf("no copy %s in %s is known; %s%s", id, region, watched, unwatched)
		}
		return fmt.Sprintf("copy %s in %s is known, but no policy matched it", id, region)
	case region != "":
		if n := d.inv.index.RegionLen(region); n == 0 {
			return fmt.Sprintf("no copy in region %s is known; %s%s", region, watched, unwatched)
		} else {
			return fmt.Sprintf("no copy matched; %d copies known in region %s", n, region)
		}
	}
	return fmt.Sprintf("no copy matched; %d copies known; %s", d.inv.index.Len(), watched)
}

// sourceNote names the policies whose `sources` refused the trigger's
// source, e.g. `source "laptop" may not trigger policy "stop-copies"
// (not in its sources)`.
func sourceNote(source string, refused []string) string {
	quoted := make([]string, len(refused))
	for i, p := range refused {
		quoted[i] = strconv.Quote(p)
	}
	if len(refused) == 1 {
		return fmt.Sprintf("source %q may not trigger policy %s (not in its sources)", source, quoted[0])
	}
	return fmt.Sprintf("source %q may not trigger policies %s (not in their sources)", source, strings.Join(quoted, ", "))
}

// joinNotes joins the non-empty notes with "; ".
func joinNotes(notes ...string) string {
	var out []string
	for _, n := range notes {
		if n != "" {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}
