package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// requestTimeout bounds one JetStream API request during setup. Creating
// an R3 stream that other replicas are creating at the same moment can
// hang until the caller gives up (nats.md §10.12); the object another
// replica made is then read back on the next attempt.
const requestTimeout = 5 * time.Second

// MismatchError says that a stream, consumer or bucket exists with other
// settings than this replica's. Setup refuses to change it unless told to:
// a replica started with the wrong --replicas would otherwise rescale the
// fleet's streams.
type MismatchError struct {
	Kind, Name string // "stream", "COPYGUARD_TRIGGERS"
	Diffs      []Diff
}

// Diff is one setting that differs.
type Diff struct{ Field, Have, Want string }

func (e *MismatchError) Error() string {
	var parts []string
	for _, d := range e.Diffs {
		parts = append(parts, fmt.Sprintf("%s is %s in NATS, %s here", d.Field, d.Have, d.Want))
	}
	return fmt.Sprintf("%s %s differs from this replica's settings: %s (--update-topology applies this replica's settings)",
		e.Kind, e.Name, strings.Join(parts, "; "))
}

// ensure gets an object, creates it if it is missing, and compares what
// exists with what is wanted. A create that loses a race (a time-out, or
// "already in use") is followed by another read, until ctx ends.
func ensure[T any](ctx context.Context, kind, name string, update bool, logf func(string, ...any),
	get, create, apply func(context.Context) (T, error), diffs func(T) []Diff,
) (T, error) {
	var zero T
	wait := 100 * time.Millisecond
	for {
		obj, err := ensureOnce(ctx, kind, name, update, logf, get, create, apply, diffs)
		if err == nil {
			return obj, nil
		}
		var mm *MismatchError
		if errors.As(err, &mm) || !transient(err) {
			return zero, err
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, fmt.Errorf("%s %s: %w (gave up: %w)", kind, name, err, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func ensureOnce[T any](ctx context.Context, kind, name string, update bool, logf func(string, ...any),
	get, create, apply func(context.Context) (T, error), diffs func(T) []Diff,
) (T, error) {
	var zero T
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	obj, err := get(rctx)
	if isNotFound(err) {
		obj, err = create(rctx)
		if err != nil {
			return zero, fmt.Errorf("create %s %s: %w", kind, name, err)
		}
		return obj, nil
	}
	if err != nil {
		return zero, fmt.Errorf("read %s %s: %w", kind, name, err)
	}
	d := diffs(obj)
	if len(d) == 0 {
		return obj, nil
	}
	if !update {
		return zero, &MismatchError{Kind: kind, Name: name, Diffs: d}
	}
	if obj, err = apply(rctx); err != nil {
		return zero, fmt.Errorf("update %s %s: %w", kind, name, err)
	}
	for _, x := range d {
		logf("%s %s updated: %s %s -> %s", kind, name, x.Field, x.Have, x.Want)
	}
	return obj, nil
}

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound)
}

// transient errors are worth another read: the races and elections of a
// cluster that is starting or losing a node.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	// 10008: "JetStream system temporarily unavailable", while the meta
	// leader is being elected; 10005: "no suitable peers for placement,
	// peer offline", while a starting cluster's nodes are still reporting
	// in (or a node is lost: then ctx's deadline ends the retries and the
	// error is reported).
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10008 || apiErr.ErrorCode == 10005) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrBucketExists) ||
		errors.Is(err, jetstream.ErrConsumerExists) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected) ||
		strings.Contains(err.Error(), "temporarily unavailable")
}

// ensureStream makes sure a stream exists with cfg's settings.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, update bool, logf func(string, ...any)) (jetstream.Stream, error) {
	return ensure(ctx, "stream", cfg.Name, update, logf,
		func(ctx context.Context) (jetstream.Stream, error) { return js.Stream(ctx, cfg.Name) },
		func(ctx context.Context) (jetstream.Stream, error) { return js.CreateStream(ctx, cfg) },
		func(ctx context.Context) (jetstream.Stream, error) { return js.UpdateStream(ctx, cfg) },
		func(s jetstream.Stream) []Diff { return streamDiffs(s.CachedInfo().Config, cfg) })
}

// ensureConsumer makes sure a durable consumer exists with cfg's settings.
func ensureConsumer(ctx context.Context, s jetstream.Stream, cfg jetstream.ConsumerConfig, update bool, logf func(string, ...any)) (jetstream.Consumer, error) {
	return ensure(ctx, "consumer", s.CachedInfo().Config.Name+"/"+cfg.Durable, update, logf,
		func(ctx context.Context) (jetstream.Consumer, error) { return s.Consumer(ctx, cfg.Durable) },
		func(ctx context.Context) (jetstream.Consumer, error) { return s.CreateConsumer(ctx, cfg) },
		func(ctx context.Context) (jetstream.Consumer, error) { return s.UpdateConsumer(ctx, cfg) },
		func(c jetstream.Consumer) []Diff { return consumerDiffs(c.CachedInfo().Config, cfg) })
}

// ensureBucket makes sure a KV bucket exists with cfg's settings.
func ensureBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, update bool, logf func(string, ...any)) (jetstream.KeyValue, error) {
	return ensure(ctx, "bucket", cfg.Bucket, update, logf,
		func(ctx context.Context) (jetstream.KeyValue, error) { return js.KeyValue(ctx, cfg.Bucket) },
		func(ctx context.Context) (jetstream.KeyValue, error) { return js.CreateKeyValue(ctx, cfg) },
		func(ctx context.Context) (jetstream.KeyValue, error) { return js.UpdateKeyValue(ctx, cfg) },
		func(kv jetstream.KeyValue) []Diff {
			st, err := kv.Status(ctx)
			if err != nil {
				return []Diff{{Field: "status", Have: "unreadable: " + err.Error(), Want: "readable"}}
			}
			bs, ok := st.(*jetstream.KeyValueBucketStatus)
			if !ok {
				return nil
			}
			return bucketDiffs(bs.Config(), cfg)
		})
}

// differ collects the settings that differ, in a fixed order.
type differ []Diff

func (d *differ) check(field string, have, want any) {
	h, w := fmt.Sprint(have), fmt.Sprint(want)
	if h != w {
		*d = append(*d, Diff{Field: field, Have: h, Want: w})
	}
}

// orDefault turns the "unset" zero of a limit into the server's -1.
func orDefault(v int64) int64 {
	if v == 0 {
		return -1
	}
	return v
}

func streamDiffs(have, want jetstream.StreamConfig) []Diff {
	var d differ
	hs, ws := slices.Clone(have.Subjects), slices.Clone(want.Subjects)
	slices.Sort(hs)
	slices.Sort(ws)
	d.check("subjects", hs, ws)
	d.check("replicas", max(have.Replicas, 1), max(want.Replicas, 1))
	d.check("retention", have.Retention, want.Retention)
	d.check("storage", have.Storage, want.Storage)
	d.check("discard", have.Discard, want.Discard)
	d.check("max_msgs", orDefault(have.MaxMsgs), orDefault(want.MaxMsgs))
	d.check("max_bytes", orDefault(have.MaxBytes), orDefault(want.MaxBytes))
	d.check("max_age", have.MaxAge, want.MaxAge)
	if want.Duplicates > 0 {
		d.check("duplicate_window", have.Duplicates, want.Duplicates)
	}
	return d
}

func consumerDiffs(have, want jetstream.ConsumerConfig) []Diff {
	var d differ
	d.check("ack_policy", have.AckPolicy, want.AckPolicy)
	d.check("ack_wait", have.AckWait, want.AckWait)
	d.check("max_deliver", have.MaxDeliver, want.MaxDeliver)
	d.check("max_ack_pending", have.MaxAckPending, want.MaxAckPending)
	d.check("filter_subject", have.FilterSubject, want.FilterSubject)
	return d
}

func bucketDiffs(have, want jetstream.KeyValueConfig) []Diff {
	var d differ
	d.check("replicas", max(have.Replicas, 1), max(want.Replicas, 1))
	d.check("history", max(have.History, 1), max(want.History, 1))
	d.check("ttl", have.TTL, want.TTL)
	d.check("max_bytes", orDefault(have.MaxBytes), orDefault(want.MaxBytes))
	d.check("limit_marker_ttl", have.LimitMarkerTTL, want.LimitMarkerTTL)
	return d
}
