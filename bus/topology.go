package bus

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/event"
)

// Names are the subjects, streams, consumers and buckets derived from the
// subject prefix, so two copyguard deployments can share one NATS.
type Names struct {
	Prefix string

	TriggerStream, InventoryStream, JobStream, EventStream       string
	TriggerConsumer, InventoryConsumer, JobConsumer              string
	ClaimBucket, InventoryBucket, ConditionBucket, ControlBucket string
	LimitBucket, LeaseBucket                                     string
}

// NamesFor derives every name from the subject prefix ("copyguard").
func NamesFor(prefix string) Names {
	up := strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(prefix))
	return Names{
		Prefix:            prefix,
		TriggerStream:     up + "_TRIGGERS",
		InventoryStream:   up + "_INVENTORY",
		JobStream:         up + "_JOBS",
		EventStream:       up + "_EVENTS",
		TriggerConsumer:   "triggers",
		InventoryConsumer: "inventory",
		JobConsumer:       "jobs",
		ClaimBucket:       up + "_claims",
		InventoryBucket:   up + "_copies",
		ConditionBucket:   up + "_conditions",
		ControlBucket:     up + "_control",
		LimitBucket:       up + "_limits",
		LeaseBucket:       up + "_leases",
	}
}

// Subject helpers, from event.Subjects, which owns the layout.
func (n Names) TriggerSubject(typ string) string    { return n.subjects().Trigger(typ) }
func (n Names) CopySubject(what string) string      { return n.subjects().Copy(what) }
func (n Names) JobSubject(region string) string     { return n.subjects().Job(region) }
func (n Names) ResultSubject(outcome string) string { return n.subjects().Result(outcome) }
func (n Names) DecisionSubject() string             { return n.subjects().Decision() }
func (n Names) RejectedSubject() string             { return n.subjects().Rejected() }
func (n Names) AuditSubject() string                { return n.subjects().Audit() }
func (n Names) subjects() event.Subjects            { return event.Subjects{Prefix: n.Prefix} }

// TopologyConfig holds the retention knobs of the streams and buckets.
type TopologyConfig struct {
	Replicas      int           // 1 for the embedded server, 3 on a cluster
	EventMaxAge   time.Duration // how long decisions and results are kept
	ClaimTTL      time.Duration // how long a copy's claim (and so "once per copy") is remembered
	DedupWindow   time.Duration // Nats-Msg-Id window on every stream
	MaxPending    int64         // cap on unprocessed triggers / jobs; publishers fail beyond it
	AckWait       time.Duration
	MaxAckPending int
	// Byte caps: each work queue, the events stream, each bucket (0: none).
	WorkMaxBytes, EventMaxBytes, BucketMaxBytes int64
	// Update applies these settings to objects that exist with others;
	// without it Setup refuses to start on a mismatch.
	Update bool
	// Logf, if set, is told what Update changed.
	Logf func(format string, args ...any)
}

// Topology is the set of JetStream objects the worker uses.
type Topology struct {
	Names                               Names
	Triggers, Inventory, Jobs, Events   jetstream.Stream
	Claims, Copies, Conditions, Control jetstream.KeyValue
	Limits, Leases                      jetstream.KeyValue
}

// Setup makes sure every stream, consumer and bucket exists with c's
// settings. Several replicas may call it at once against a fresh cluster:
// an object another replica is creating is read back (ensure.go). An
// object that exists with other settings is left alone and reported
// (*MismatchError), unless c.Update says to apply this replica's settings.
func Setup(ctx context.Context, js jetstream.JetStream, n Names, c TopologyConfig) (*Topology, error) {
	logf := c.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	stream := func(dst *jetstream.Stream, cfg jetstream.StreamConfig) error {
		s, err := ensureStream(ctx, js, cfg, c.Update, logf)
		*dst = s
		return err
	}
	work := func(name string, subjects ...string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name: name, Subjects: subjects,
			// A work queue forgets a message once it is acked: no growth.
			Retention: jetstream.WorkQueuePolicy,
			Storage:   jetstream.FileStorage,
			Replicas:  c.Replicas,
			MaxMsgs:   c.MaxPending,
			MaxBytes:  orDefault(c.WorkMaxBytes),
			// Publishers get an error when full instead of losing old work.
			Discard:    jetstream.DiscardNew,
			Duplicates: c.DedupWindow,
		}
	}
	t := &Topology{Names: n}
	if err := stream(&t.Triggers, work(n.TriggerStream, n.subjects().Triggers())); err != nil {
		return nil, err
	}
	if err := stream(&t.Inventory, work(n.InventoryStream, n.subjects().Copies())); err != nil {
		return nil, err
	}
	if err := stream(&t.Jobs, work(n.JobStream, n.subjects().Jobs())); err != nil {
		return nil, err
	}
	if err := stream(&t.Events, jetstream.StreamConfig{
		Name: n.EventStream,
		// The audit subject came later: a stream made before it needs
		// --update-topology once (SPEC §10) to take audit events.
		Subjects:   []string{n.DecisionSubject(), n.subjects().Results(), n.RejectedSubject(), n.AuditSubject()},
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   c.Replicas,
		MaxAge:     c.EventMaxAge,
		MaxBytes:   orDefault(c.EventMaxBytes),
		Duplicates: c.eventDuplicates(),
	}); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		stream jetstream.Stream
		name   string
	}{{t.Triggers, n.TriggerConsumer}, {t.Inventory, n.InventoryConsumer}, {t.Jobs, n.JobConsumer}} {
		if _, err := ensureConsumer(ctx, s.stream, jetstream.ConsumerConfig{
			Durable:       s.name,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.AckWait,
			MaxDeliver:    maxDeliver,
			MaxAckPending: c.MaxAckPending,
		}, c.Update, logf); err != nil {
			return nil, err
		}
	}
	for _, b := range []struct {
		dst            *jetstream.KeyValue
		bucket, what   string
		history        uint8
		ttl, markerTTL time.Duration
	}{
		{&t.Claims, n.ClaimBucket, "copyguard: one claim per decided copy", claimHistory, c.ClaimTTL, 0},
		{&t.Copies, n.InventoryBucket, "copyguard: in-flight copies", copyHistory, 0, 0},
		{&t.Conditions, n.ConditionBucket, "copyguard: active conditions", conditionHistory, 0, markerTTL},
		{&t.Control, n.ControlBucket, "copyguard: pause switch", controlHistory, 0, 0},
		{&t.Limits, n.LimitBucket, "copyguard: the fleet's API budget per region", limitHistory, 0, 0},
		{&t.Leases, n.LeaseBucket, "copyguard: leases and listing records", leaseHistory, 0, markerTTL},
	} {
		kv, err := ensureBucket(ctx, js, jetstream.KeyValueConfig{
			Bucket: b.bucket, Description: b.what, History: b.history, TTL: b.ttl,
			Storage: jetstream.FileStorage, Replicas: c.Replicas, LimitMarkerTTL: b.markerTTL,
			MaxBytes: orDefault(c.BucketMaxBytes),
		}, c.Update, logf)
		if err != nil {
			return nil, err
		}
		*b.dst = kv
	}
	return t, nil
}
