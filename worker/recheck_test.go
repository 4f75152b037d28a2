package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// TestDescribeBatcher: reads of one region within the window share one
// call; a batch that reaches 100 ids goes at once; regions do not mix;
// an id the answer lacks is not found; an error reaches every waiter.
func TestDescribeBatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var calls [][]string
		b := newDescribeBatcher(batchWindow, func(_ context.Context, region string, ids []string) ([]cloud.Copy, error) {
			mu.Lock()
			calls = append(calls, append([]string{region}, ids...))
			mu.Unlock()
			if region == "bad" {
				return nil, fmt.Errorf("boom")
			}
			var out []cloud.Copy
			for _, id := range ids {
				if id != "m-gone" {
					out = append(out, cloud.Copy{Region: region, ImageID: id, Status: cloud.StatusCreating})
				}
			}
			return out, nil
		})
		// made returns the calls so far and, with reset, forgets them.
		made := func(reset bool) [][]string {
			mu.Lock()
			defer mu.Unlock()
			out := calls
			if reset {
				calls = nil
			}
			return out
		}
		var wg sync.WaitGroup
		get := func(region, id string, wantFound, wantErr bool) {
			wg.Go(func() {
				c, found, err := b.get(t.Context(), region, id)
				if (err != nil) != wantErr || found != wantFound || (found && c.ImageID != id) {
					t.Errorf("get(%s, %s) = %+v, %v, %v", region, id, c, found, err)
				}
			})
		}
		get("a", "m-1", true, false)
		get("a", "m-2", true, false)
		get("a", "m-gone", false, false)
		get("b", "m-3", true, false)
		get("bad", "m-4", false, true)
		synctest.Wait()
		if c := made(false); len(c) != 0 {
			t.Fatalf("called before the window passed: %v", c)
		}
		time.Sleep(batchWindow)
		wg.Wait()
		if c := made(true); len(c) != 3 {
			t.Fatalf("calls = %v, want one per region", c)
		}

		// 100 ids go without waiting for the window; the 101st starts a
		// new batch.
		for i := range maxBatch + 1 {
			get("a", fmt.Sprintf("m-%d", i), true, false)
		}
		synctest.Wait()
		if c := made(false); len(c) != 1 || len(c[0]) != maxBatch+1 {
			t.Fatalf("a full batch did not go at once: %d calls", len(c))
		}
		time.Sleep(batchWindow)
		wg.Wait()
		if c := made(true); len(c) != 2 || len(c[1]) != 2 {
			t.Errorf("calls = %d; want 2, the second with 1 id", len(c))
		}

		// A waiter whose context ends leaves; the call is still made.
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, _, err := b.get(ctx, "a", "m-x"); err == nil {
			t.Error("get with an ended context succeeded")
		}
		time.Sleep(batchWindow)
		synctest.Wait()
		if c := made(false); len(c) != 1 || !slices.Contains(c[0], "m-x") {
			t.Errorf("calls = %v", c)
		}
	})
}

// TestJobCompatibility: a job written before Eval and Traceparent existed
// still decodes (and so is cancelled without a re-check); a new job
// round-trips its trigger.
func TestJobCompatibility(t *testing.T) {
	old := `{"trigger":{"id":"t-1","type":"budget.exceeded","source":"test"},"policies":["budget"],` +
		`"copy":{"image_id":"m-aaaa0001","region":"cn-hangzhou","status":"Creating","progress":10},"claim_rev":3,"decided_at":"2025-01-01T00:00:00Z"}`
	var j job
	if err := json.Unmarshal([]byte(old), &j); err != nil {
		t.Fatal(err)
	}
	if j.Eval != nil || j.Traceparent != "" || j.Copy.ImageID != "m-aaaa0001" || j.ClaimRev != 3 || !j.Copy.ObservedAt.IsZero() {
		t.Errorf("old job = %+v", j)
	}
	body, _ := json.Marshal(job{Trigger: j.Trigger, Policies: j.Policies, Copy: j.Copy})
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	for _, k := range []string{"eval", "traceparent"} {
		if _, ok := m[k]; ok {
			t.Errorf("a job without %s writes it: %s", k, body)
		}
	}
	if c, ok := m["copy"].(map[string]any); ok {
		if _, ok := c["observed_at"]; ok {
			t.Errorf("a copy without observed_at writes it: %s", body)
		}
	}
}

func TestValidTraceparent(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", false},
		{"", false},
		{"00-xyz", false},
	}
	for _, tt := range tests {
		if got := validTraceparent(tt.s); got != tt.want {
			t.Errorf("validTraceparent(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
