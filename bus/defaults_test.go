package bus_test

import (
	"testing"
	"time"

	"github.com/copyguard/copyguard/bus"
)

// TestDefaults pins the numbers the defaults come to, so that a change to
// one of them, or to a derivation, is a visible decision.
func TestDefaults(t *testing.T) {
	d := bus.DefaultTopology()
	for _, tt := range []struct {
		name      string
		got, want time.Duration
	}{
		{"AckWait (the takeover time)", d.AckWait, 5 * time.Second},
		{"handler heartbeat (AckWait/5)", bus.HeartbeatFor(d.AckWait), time.Second},
		{"pull expiry", bus.PullExpiry, 10 * time.Second},
		{"pull heartbeat (expiry/2)", bus.PullHeartbeat, 5 * time.Second},
		{"event max age", d.EventMaxAge, 7 * 24 * time.Hour},
		{"claim TTL", d.ClaimTTL, 7 * 24 * time.Hour},
		{"dedup window", d.DedupWindow, 10 * time.Minute},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if d.Replicas != 1 || d.MaxPending != 1_000_000 || d.MaxAckPending != 1024 {
		t.Errorf("replicas %d, max pending %d, max ack pending %d; want 1, 1000000, 1024", d.Replicas, d.MaxPending, d.MaxAckPending)
	}
	if d.WorkMaxBytes != 256<<20 || d.EventMaxBytes != 2<<30 || d.BucketMaxBytes != 256<<20 {
		t.Errorf("max bytes: work %d, events %d, buckets %d; want 256 MiB, 2 GiB, 256 MiB", d.WorkMaxBytes, d.EventMaxBytes, d.BucketMaxBytes)
	}
	// JetStream reserves each cap: together they must fit the with-nats
	// overlay's max_file_store of 8 GB.
	if total := 3*d.WorkMaxBytes + d.EventMaxBytes + 6*d.BucketMaxBytes; total > 8e9 {
		t.Errorf("the caps reserve %d bytes, over 8 GB", total)
	}
	if bus.HeartbeatFor(time.Second) != time.Second/5 {
		t.Errorf("HeartbeatFor(1s) = %v, want a fifth", bus.HeartbeatFor(time.Second))
	}
}
