package worker

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

func copyStartedMsg(t *testing.T, id string, c cloud.Copy) Msg {
	t.Helper()
	return copyStartedMsgAt(t, id, c, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}

// copyStartedMsgAt is copyStartedMsg published at at; without a
// started_at in the data, at is also the copy's start.
func copyStartedMsgAt(t *testing.T, id string, c cloud.Copy, at time.Time) Msg {
	t.Helper()
	data := map[string]any{"image_id": c.ImageID, "region": c.Region}
	if c.SourceRegion != "" {
		data["source_region"] = c.SourceRegion
	}
	if len(c.Tags) > 0 {
		data["tags"] = c.Tags
	}
	ev, err := event.New(event.TypeCopyStarted, "test", id, "", at, data)
	if err != nil {
		t.Fatal(err)
	}
	body, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return Msg{Subject: "copyguard.copy.started", Data: body, Delivered: 1, InProgress: func() {}}
}

func copyFinishedMsg(t *testing.T, id string, c cloud.Copy) Msg {
	t.Helper()
	ev, err := event.New(event.TypeCopyFinished, "test", id, "", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		map[string]any{"image_id": c.ImageID, "region": c.Region, "status": cloud.StatusAvailable})
	if err != nil {
		t.Fatal(err)
	}
	body, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return Msg{Subject: "copyguard.copy.finished", Data: body, Delivered: 1, InProgress: func() {}}
}

func quarantine(t *testing.T, id, region string) Msg {
	return triggerMsg(t, event.TypeRegionQuarantined, id, map[string]any{"region": region, "reason": "incident", "incident": "inc-1"})
}

func release(t *testing.T, id string, data map[string]any) Msg {
	return triggerMsg(t, event.TypeRegionReleased, id, data)
}

func mustAck(t *testing.T, what string, v Verdict) {
	t.Helper()
	if v.Kind != Ack {
		t.Fatalf("%s: verdict = %v (%s), want ack", what, v.Kind, v.Reason)
	}
}

func TestHandleInventory(t *testing.T) {
	t.Run("started then finished", func(t *testing.T) {
		r := newRig(t)
		c := inflight("cn-hangzhou", "m-inv00001", map[string]string{"cost-center": "ml"})
		mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", c)))
		val, _, err := r.copies.Get(testCtx, copyKey(c))
		if err != nil {
			t.Fatal(err)
		}
		var stored cloud.Copy
		if err := json.Unmarshal(val, &stored); err != nil {
			t.Fatal(err)
		}
		if stored.Status != cloud.StatusWaiting || stored.SourceRegion != "cn-beijing" || stored.Tags["cost-center"] != "ml" {
			t.Errorf("stored copy = %+v", stored)
		}
		if _, ok := r.w.Inventory().Get(c.Region, c.ImageID); !ok {
			t.Error("started copy not in the in-memory index")
		}
		mustAck(t, "copy.finished", r.w.HandleInventory(testCtx, copyFinishedMsg(t, "e-2", c)))
		if _, _, err := r.copies.Get(testCtx, copyKey(c)); err == nil {
			t.Error("finished copy still in the inventory bucket")
		}
		if _, ok := r.w.Inventory().Get(c.Region, c.ImageID); ok {
			t.Error("finished copy still in the in-memory index")
		}
		if len(r.pub.all()) != 0 {
			t.Errorf("inventory events published %+v", r.pub.all())
		}
	})

	t.Run("a repeated copy.started keeps the progress already seen", func(t *testing.T) {
		r := newRig(t)
		c := inflight("cn-hangzhou", "m-inv00002", nil)
		c.Status, c.Progress = cloud.StatusWaiting, 40
		r.w.Inventory().Put(c)
		mustAck(t, "copy.started", r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", c)))
		if got, _ := r.w.Inventory().Get(c.Region, c.ImageID); got.Progress != 40 {
			t.Errorf("progress = %d, want 40 kept", got.Progress)
		}
	})

	for _, tt := range []struct {
		name  string
		msg   func(t *testing.T) Msg
		field string
	}{
		{"a trigger on the inventory subject", func(t *testing.T) Msg {
			m := budgetTrigger(t, "t-1", "ml")
			m.Subject = "copyguard.copy.started"
			return m
		}, "type"},
		{"copy.started without a region", func(t *testing.T) Msg {
			m := copyStartedMsg(t, "e-1", cloud.Copy{ImageID: "m-inv00003", Region: "cn-hangzhou"})
			m.Data = []byte(strings.Replace(string(m.Data), `"region":"cn-hangzhou"`, `"regio":"cn-hangzhou"`, 1))
			return m
		}, "data.region"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			mustAck(t, "inventory", r.w.HandleInventory(testCtx, tt.msg(t)))
			rej := r.pub.with("copyguard.rejected")
			if len(rej) != 1 || len(r.pub.all()) != 1 {
				t.Fatalf("published %+v, want one rejection", r.pub.all())
			}
			var got event.Rejected
			decodeEvent(t, rej[0], &got)
			if got.Field != tt.field {
				t.Errorf("field = %q (%s), want %q", got.Field, got.Reason, tt.field)
			}
			if keys := r.copies.keys(); len(keys) != 0 {
				t.Errorf("rejected input stored %v", keys)
			}
		})
	}

	t.Run("inventory bucket fails", func(t *testing.T) {
		r := newRig(t)
		r.copies.fail = func(string, string) error { return errBoom }
		v := r.w.HandleInventory(testCtx, copyStartedMsg(t, "e-1", inflight("cn-hangzhou", "m-inv00004", nil)))
		if v.Kind != Nak {
			t.Errorf("verdict = %v, want nak", v.Kind)
		}
	})
}

func TestMergeCopy(t *testing.T) {
	started := cloud.Copy{
		ImageID: "m-1", Region: "cn-hangzhou", SourceImageID: "m-src", SourceRegion: "cn-beijing",
		Status: cloud.StatusWaiting, Progress: 0, SizeGB: 40, Tags: map[string]string{"a": "1"},
		StartedAt: time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC), Name: "img", ResourceGroupID: "rg-abcd1234",
	}
	listed := cloud.Copy{ImageID: "m-1", Region: "cn-hangzhou", Status: cloud.StatusCreating, Progress: 30}
	tests := []struct {
		name     string
		old, new cloud.Copy
		want     cloud.Copy
	}{
		{
			name: "a listing keeps what only copy.started knows",
			old:  started, new: listed,
			want: func() cloud.Copy { c := started; c.Status, c.Progress = cloud.StatusCreating, 30; return c }(),
		},
		{
			name: "the newer side's fields win",
			old:  started,
			new: cloud.Copy{ImageID: "m-1", Region: "cn-hangzhou", SourceRegion: "cn-qingdao", Status: cloud.StatusCreating,
				Progress: 50, Tags: map[string]string{"b": "2"}, SizeGB: 80},
			want: func() cloud.Copy {
				c := started
				c.SourceRegion, c.Status, c.Progress, c.Tags, c.SizeGB = "cn-qingdao", cloud.StatusCreating, 50, map[string]string{"b": "2"}, 80
				return c
			}(),
		},
		{
			name: "progress never goes back within a status",
			old:  func() cloud.Copy { c := listed; c.Progress = 60; return c }(), new: listed,
			want: func() cloud.Copy { c := listed; c.Progress = 60; return c }(),
		},
		{
			name: "a new status brings its own progress",
			old:  func() cloud.Copy { c := listed; c.Status, c.Progress = cloud.StatusWaiting, 60; return c }(), new: listed,
			want: listed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mergeCopy(tt.old, tt.new); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mergeCopy =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
