package bus

import "time"

// This file holds the topology's defaults and the settings that follow
// from them, written as code so that changing one changes the others.
// AckWait is the number the consumption timings hang on.

// Consumer and pull settings.
const (
	// DefaultAckWait is how long the server waits for a message to be
	// settled (or marked in progress) before it hands it to another
	// replica: the longest a message held by a dead worker waits, and so
	// the takeover time (--takeover-after, SPEC §10).
	DefaultAckWait = 5 * time.Second

	// heartbeatsPerAckWait is how many times per AckWait a running handler
	// tells the server its message is in progress, so that a late or lost
	// heartbeat or two do not cost a redelivery: every second for 5s.
	heartbeatsPerAckWait = 5

	// pullExpiry is how long one pull request waits on the server (nats.go
	// default: 30s). Short, so a consumer that vanished while no pull
	// request was waiting is noticed within seconds.
	pullExpiry = 10 * time.Second

	// pullHeartbeat is the server's idle heartbeat on a waiting pull
	// request: half the expiry, nats.go's own rule for its default.
	pullHeartbeat = pullExpiry / 2

	// maxDeliver -1 is unlimited: a message that reached a MaxDeliver would
	// sit unread in the work queue, which for a trigger means a lost
	// trigger. Poison input is rejected and terminated by the worker instead.
	maxDeliver = -1
)

// heartbeatFor is how often a handler's message is marked in progress on
// a consumer with the given AckWait: a fifth of it, 1s for the default.
func heartbeatFor(ackWait time.Duration) time.Duration {
	return ackWait / heartbeatsPerAckWait
}

// Bucket settings that are not knobs.
const (
	// claimHistory, copyHistory, conditionHistory, limitHistory and
	// leaseHistory keep only the latest value: the worker reads state, not
	// its history.
	claimHistory, copyHistory, conditionHistory, limitHistory, leaseHistory = 1, 1, 1, 1, 1
	// controlHistory keeps the last few pause/resume changes for operators.
	controlHistory = 5
	// markerTTL: conditions (active_for) and leases expire with a per-key
	// TTL, which needs limit markers on the bucket.
	markerTTL = time.Minute
)

// Byte caps on every stream and bucket, so that no input fills the disk
// the NATS server shares with everything else. JetStream reserves a
// stream's MaxBytes on creation, so together they must fit the server's
// max_file_store (8 GB in deploy/kubernetes' with-nats overlay): these
// come to 4.25 GiB.
const (
	// DefaultWorkMaxBytes caps each work queue (triggers, inventory,
	// jobs): 4,096 triggers of the largest accepted size (64 KiB), and
	// hundreds of thousands of ordinary ones or of jobs. Full, it refuses
	// new messages (DiscardNew) and the publisher gets an error.
	DefaultWorkMaxBytes = 256 << 20
	// DefaultEventMaxBytes caps the events stream (decisions, results,
	// audit, rejected); full, it drops its oldest events before
	// --event-max-age.
	DefaultEventMaxBytes = 2 << 30
	// DefaultBucketMaxBytes caps each KV bucket: some 500,000 claims of
	// about 500 bytes. Full, a bucket refuses writes.
	DefaultBucketMaxBytes = 256 << 20
)

// DefaultTopology is what copyguard run uses unless configured.
func DefaultTopology() TopologyConfig {
	return TopologyConfig{
		Replicas:       1,
		EventMaxAge:    7 * 24 * time.Hour,
		ClaimTTL:       7 * 24 * time.Hour,
		DedupWindow:    10 * time.Minute,
		MaxPending:     1_000_000,
		AckWait:        DefaultAckWait,
		MaxAckPending:  1024,
		WorkMaxBytes:   DefaultWorkMaxBytes,
		EventMaxBytes:  DefaultEventMaxBytes,
		BucketMaxBytes: DefaultBucketMaxBytes,
	}
}

// eventDuplicates is the dedup window of the event stream: the server
// refuses one longer than the stream's MaxAge.
func (c TopologyConfig) eventDuplicates() time.Duration {
	return min(c.DedupWindow, c.EventMaxAge)
}
