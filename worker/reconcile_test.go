package worker

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// listerFunc adapts a function to Lister.
type listerFunc func(ctx context.Context, region string) ([]cloud.Copy, error)

func (f listerFunc) ListCopies(ctx context.Context, region string) ([]cloud.Copy, error) {
	return f(ctx, region)
}

func TestReconcile(t *testing.T) {
	listing := map[string][]cloud.Copy{}
	var listErr error
	r := newRig(t, func(_ *rig, c *Config) {
		c.Regions = []string{"cn-hangzhou", "cn-shanghai"}
		c.Lister = listerFunc(func(_ context.Context, region string) ([]cloud.Copy, error) {
			if region == "cn-shanghai" && listErr != nil {
				return nil, listErr
			}
			return slices.Clone(listing[region]), nil
		})
	})
	now := r.clock.Now()
	at := func(region, id string, started time.Time, progress int) cloud.Copy {
		c := inflight(region, id, nil)
		c.StartedAt, c.Progress = started, progress
		return c
	}
	gone := at("cn-hangzhou", "m-gone0001", now.Add(-2*time.Hour), 10)
	moving := at("cn-hangzhou", "m-move0001", now.Add(-time.Hour), 10)
	still := at("cn-hangzhou", "m-stil0001", now.Add(-time.Hour), 70)
	fresh := at("cn-hangzhou", "m-frsh0001", now.Add(-30*time.Second), 0) // announced, not yet listed
	added := at("cn-hangzhou", "m-addd0001", now.Add(-10*time.Minute), 5)
	shanghai := at("cn-shanghai", "m-shan0001", now.Add(-3*time.Hour), 10)
	for _, c := range []cloud.Copy{gone, moving, still, fresh, shanghai} {
		if err := r.w.inv.putCopy(testCtx, c); err != nil {
			t.Fatal(err)
		}
	}
	stillRev := func() uint64 { e, _ := r.copies.entry(copyKey(still)); return e.rev }
	revBefore := stillRev()

	// DescribeImages knows nothing of the source.
	listedMoving := cloud.Copy{ImageID: moving.ImageID, Region: moving.Region, Status: cloud.StatusCreating, Progress: 55}
	listedStill := cloud.Copy{ImageID: still.ImageID, Region: still.Region, Status: still.Status, Progress: still.Progress}
	listing["cn-hangzhou"] = []cloud.Copy{listedMoving, listedStill, added}
	listing["cn-shanghai"] = []cloud.Copy{shanghai}

	if err := r.w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}

	inBucket := func(c cloud.Copy) (cloud.Copy, bool) {
		val, _, err := r.copies.Get(testCtx, copyKey(c))
		if err != nil {
			return cloud.Copy{}, false
		}
		var got cloud.Copy
		if err := json.Unmarshal(val, &got); err != nil {
			t.Fatal(err)
		}
		return got, true
	}
	for _, tt := range []struct {
		name string
		c    cloud.Copy
		want bool
	}{
		{"gone from the listing: removed", gone, false},
		{"updated", moving, true},
		{"unchanged", still, true},
		{"started less than a minute before the listing: kept", fresh, true},
		{"new in the listing: added", added, true},
		{"another region", shanghai, true},
	} {
		_, inIndex := r.w.Inventory().Get(tt.c.Region, tt.c.ImageID)
		_, inKV := inBucket(tt.c)
		if inIndex != tt.want || inKV != tt.want {
			t.Errorf("%s: in index %v, in bucket %v, want %v", tt.name, inIndex, inKV, tt.want)
		}
	}
	if got, _ := inBucket(moving); got.Progress != 55 || got.SourceRegion != "cn-beijing" || got.SourceImageID != "m-src0001" {
		t.Errorf("updated copy = %+v, want progress 55 with the source kept", got)
	}
	if stillRev() != revBefore {
		t.Error("an unchanged copy was written again")
	}

	t.Run("a failing region does not stop the others", func(t *testing.T) {
		listErr = errBoom
		listing["cn-hangzhou"] = []cloud.Copy{listedMoving, listedStill}
		err := r.w.Reconcile(testCtx)
		if err == nil || !strings.Contains(err.Error(), "cn-shanghai") {
			t.Errorf("err = %v, want one naming cn-shanghai", err)
		}
		if _, ok := r.w.Inventory().Get(added.Region, added.ImageID); ok {
			t.Error("cn-hangzhou was not reconciled")
		}
		if _, ok := r.w.Inventory().Get(shanghai.Region, shanghai.ImageID); !ok {
			t.Error("a region whose listing failed lost its copies")
		}
	})
}

func TestReconcileAppliesConditions(t *testing.T) {
	var listing []cloud.Copy
	r := newRig(t, func(_ *rig, c *Config) {
		c.Lister = listerFunc(func(context.Context, string) ([]cloud.Copy, error) { return listing, nil })
	})
	mustAck(t, "quarantine", r.w.HandleTrigger(testCtx, quarantine(t, "q-1", "cn-hangzhou")))
	c := inflight("cn-hangzhou", "m-seen0001", nil)
	listing = []cloud.Copy{c}
	if err := r.w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}
	if cl, ok := r.claim(t, copyKey(c)); !ok || cl.Trigger.ID != "q-1" {
		t.Errorf("a copy found by reconcile under a quarantine: claim %+v present %v", cl, ok)
	}
	// Seen again: already known, not judged (or claimed) twice.
	r.pub.reset()
	listing[0].Progress = 90
	if err := r.w.Reconcile(testCtx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.pub.with("copyguard.decision")); n != 0 {
		t.Errorf("a known copy was judged again (%d decisions)", n)
	}
}

func TestReconcileWithoutLister(t *testing.T) {
	r := newRig(t)
	if err := r.w.Reconcile(testCtx); err != nil {
		t.Errorf("Reconcile without a lister = %v", err)
	}
}
