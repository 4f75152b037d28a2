package bus

import (
	"context"
	"fmt"
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
	}
}

// Subject helpers, from event.Subjects, which owns the layout.
func (n Names) TriggerSubject(typ string) string    { return n.subjects().Trigger(typ) }
func (n Names) CopySubject(what string) string      { return n.subjects().Copy(what) }
func (n Names) JobSubject(region string) string     { return n.subjects().Job(region) }
func (n Names) ResultSubject(outcome string) string { return n.subjects().Result(outcome) }
func (n Names) DecisionSubject() string             { return n.subjects().Decision() }
func (n Names) RejectedSubject() string             { return n.subjects().Rejected() }
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
}

// Topology is the set of JetStream objects the worker uses.
type Topology struct {
	Names                               Names
	Triggers, Inventory, Jobs, Events   jetstream.Stream
	Claims, Copies, Conditions, Control jetstream.KeyValue
}

// Setup creates or updates every stream, consumer and bucket. Several
// replicas may call it at once: create-or-update is idempotent.
func Setup(ctx context.Context, js jetstream.JetStream, n Names, c TopologyConfig) (*Topology, error) {
	work := func(name string, subjects ...string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name: name, Subjects: subjects,
			// A work queue forgets a message once it is acked: no growth.
			Retention: jetstream.WorkQueuePolicy,
			Storage:   jetstream.FileStorage,
			Replicas:  c.Replicas,
			MaxMsgs:   c.MaxPending,
			// Publishers get an error when full instead of losing old work.
			Discard:    jetstream.DiscardNew,
			Duplicates: c.DedupWindow,
		}
	}
	t := &Topology{Names: n}
	var err error
	if t.Triggers, err = ensureStream(ctx, js, work(n.TriggerStream, n.subjects().Triggers())); err != nil {
		return nil, err
	}
	if t.Inventory, err = ensureStream(ctx, js, work(n.InventoryStream, n.subjects().Copies())); err != nil {
		return nil, err
	}
	if t.Jobs, err = ensureStream(ctx, js, work(n.JobStream, n.subjects().Jobs())); err != nil {
		return nil, err
	}
	if t.Events, err = ensureStream(ctx, js, jetstream.StreamConfig{
		Name:       n.EventStream,
		Subjects:   []string{n.DecisionSubject(), n.subjects().Results(), n.RejectedSubject()},
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   c.Replicas,
		MaxAge:     c.EventMaxAge,
		Duplicates: c.eventDuplicates(),
	}); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		stream jetstream.Stream
		name   string
	}{{t.Triggers, n.TriggerConsumer}, {t.Inventory, n.InventoryConsumer}, {t.Jobs, n.JobConsumer}} {
		if _, err := s.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       s.name,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.AckWait,
			MaxDeliver:    maxDeliver,
			MaxAckPending: c.MaxAckPending,
		}); err != nil {
			return nil, fmt.Errorf("create consumer %s on %s: %w", s.name, s.stream.CachedInfo().Config.Name, err)
		}
	}
	kv := func(bucket, what string, history uint8, ttl, markerTTL time.Duration) (jetstream.KeyValue, error) {
		b, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucket, Description: what, History: history, TTL: ttl,
			Storage: jetstream.FileStorage, Replicas: c.Replicas, LimitMarkerTTL: markerTTL,
		})
		if err != nil {
			return nil, fmt.Errorf("create kv bucket %s: %w", bucket, err)
		}
		return b, nil
	}
	if t.Claims, err = kv(n.ClaimBucket, "copyguard: one claim per decided copy", claimHistory, c.ClaimTTL, 0); err != nil {
		return nil, err
	}
	if t.Copies, err = kv(n.InventoryBucket, "copyguard: in-flight copies", copyHistory, 0, 0); err != nil {
		return nil, err
	}
	if t.Conditions, err = kv(n.ConditionBucket, "copyguard: active conditions", conditionHistory, 0, conditionMarkerTTL); err != nil {
		return nil, err
	}
	if t.Control, err = kv(n.ControlBucket, "copyguard: pause switch", controlHistory, 0, 0); err != nil {
		return nil, err
	}
	return t, nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return s, nil
}
