package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/internal/world"
)

// TestReconcileDuringNodeLoss: on a 3-node cluster with R3 buckets, a
// worker that lists every 200 ms cancels a quarantined region's copies
// while the node leading the inventory bucket is stopped. Listings taken
// before a cancel must not bring the cancelled copies back: afterwards the
// inventory holds none of them, and the quarantine's condition decided no
// copy a second time ("condition applied to new copy").
func TestReconcileDuringNodeLoss(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	e := newEnvWith(t, world.Config{StoreDir: t.TempDir(), NATSURL: c.URL()})
	const n = 40
	var ids []string
	for i := range n {
		ids = append(ids, e.sim.AddImage(ecssim.Image{ID: fmt.Sprintf("m-loss%06d", i), Region: "eu-central-1", IsCopied: true,
			SourceImageID: "m-source0001", SourceRegion: "cn-hangzhou", Tags: map[string]string{"cost-center": "x"}, CopyTime: time.Hour}))
	}
	cfg := e.config("loss-1")
	cfg.Replicas, cfg.Regions, cfg.ReconcileEvery = 3, []string{"eu-central-1"}, 200*time.Millisecond
	cfg.QPS = 20 // two seconds of cancels, with listings in between
	a := e.start(cfg)
	e.waitInventory(a, n)

	e.trigger("region.quarantined", "q-loss", map[string]any{"region": "eu-central-1", "incident": "INC-9", "reason": "node loss test"})
	natstest.WaitFor(t, "a quarter of the cancels", 30*time.Second, func() bool { return e.sim.TotalCalls("CancelCopyImage") >= n/4 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leader := c.StreamLeader(ctx, e.js, "KV_"+e.names.InventoryBucket)
	if leader < 0 {
		t.Fatal("the inventory bucket has no leader")
	}
	c.StopNode(leader)

	for _, id := range ids {
		if r := e.waitResult("eu-central-1", id); r.Outcome != "cancelled" {
			t.Errorf("%s: %s (%s), want cancelled", id, r.Outcome, r.Reason)
		}
	}
	// Two complete listings that started after the last cancel: neither
	// brings a copy back.
	after := time.Now().Add(2 * cfg.ReconcileEvery)
	natstest.WaitFor(t, "two listings after the last cancel", 30*time.Second, func() bool {
		ls := a.Worker.Listings()
		return len(ls) == 1 && ls[0].LastListed.After(after)
	})
	if got := a.Worker.Inventory().Len(); got != 0 {
		t.Errorf("%d copies in the inventory after every copy was cancelled, want 0", got)
	}
	kv, err := e.js.KeyValue(ctx, e.names.InventoryBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for k := range keys.Keys() {
		left = append(left, k)
	}
	if len(left) != 0 {
		t.Errorf("copies bucket still holds %v", left)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	quarantine := 0
	for _, d := range e.decisions {
		if d.Trigger.ID == "q-loss" {
			quarantine++
		}
	}
	if quarantine != 1 {
		t.Errorf("%d decisions for the quarantine, want 1: a listing that raced a cancel made a copy look new", quarantine)
	}
	for k, rs := range e.results {
		if strings.HasPrefix(k, "eu-central-1/") && len(rs) != 1 {
			t.Errorf("%s: %d results, want 1", k, len(rs))
		}
	}
	_ = jetstream.ErrKeyNotFound
}
