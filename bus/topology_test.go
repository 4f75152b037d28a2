package bus_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
)

func TestNamesFor(t *testing.T) {
	tests := []struct {
		prefix                                string
		triggers, jobs, events, claims, conds string
		trigger, job, result                  string
	}{
		{"copyguard", "COPYGUARD_TRIGGERS", "COPYGUARD_JOBS", "COPYGUARD_EVENTS", "COPYGUARD_claims", "COPYGUARD_conditions",
			"copyguard.trigger.budget.exceeded", "copyguard.job.cn-hangzhou", "copyguard.result.cancelled"},
		{"acme.dev", "ACME_DEV_TRIGGERS", "ACME_DEV_JOBS", "ACME_DEV_EVENTS", "ACME_DEV_claims", "ACME_DEV_conditions",
			"acme.dev.trigger.budget.exceeded", "acme.dev.job.cn-hangzhou", "acme.dev.result.cancelled"},
		{"acme-dev", "ACME_DEV_TRIGGERS", "ACME_DEV_JOBS", "ACME_DEV_EVENTS", "ACME_DEV_claims", "ACME_DEV_conditions",
			"acme-dev.trigger.budget.exceeded", "acme-dev.job.cn-hangzhou", "acme-dev.result.cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			n := bus.NamesFor(tt.prefix)
			got := []string{n.TriggerStream, n.JobStream, n.EventStream, n.ClaimBucket, n.ConditionBucket,
				n.TriggerSubject("budget.exceeded"), n.JobSubject("cn-hangzhou"), n.ResultSubject("cancelled")}
			want := []string{tt.triggers, tt.jobs, tt.events, tt.claims, tt.conds, tt.trigger, tt.job, tt.result}
			if !slices.Equal(got, want) {
				t.Errorf("NamesFor(%q) =\n%v\nwant\n%v", tt.prefix, got, want)
			}
			if n.DecisionSubject() != tt.prefix+".decision" || n.RejectedSubject() != tt.prefix+".rejected" || n.CopySubject("started") != tt.prefix+".copy.started" {
				t.Errorf("event subjects: %s %s %s", n.DecisionSubject(), n.RejectedSubject(), n.CopySubject("started"))
			}
		})
	}
}

// checkTopology asserts that every object NamesFor(prefix) names exists
// on the server with the settings the worker relies on.
func checkTopology(t *testing.T, js jetstream.JetStream, prefix string, cfg bus.TopologyConfig) {
	t.Helper()
	ctx := ctxT(t)
	n := bus.NamesFor(prefix)
	for _, s := range []struct {
		name      string
		subjects  []string
		retention jetstream.RetentionPolicy
		consumer  string
	}{
		{n.TriggerStream, []string{prefix + ".trigger.>"}, jetstream.WorkQueuePolicy, n.TriggerConsumer},
		{n.InventoryStream, []string{prefix + ".copy.>"}, jetstream.WorkQueuePolicy, n.InventoryConsumer},
		{n.JobStream, []string{prefix + ".job.>"}, jetstream.WorkQueuePolicy, n.JobConsumer},
		{n.EventStream, []string{n.DecisionSubject(), prefix + ".result.>", n.RejectedSubject(), prefix + ".audit"}, jetstream.LimitsPolicy, ""},
	} {
		st, err := js.Stream(ctx, s.name)
		if err != nil {
			t.Errorf("stream %s: %v", s.name, err)
			continue
		}
		c := st.CachedInfo().Config
		if !slices.Equal(c.Subjects, s.subjects) || c.Retention != s.retention || c.Duplicates != cfg.DedupWindow {
			t.Errorf("stream %s: subjects %v retention %v dedup %v", s.name, c.Subjects, c.Retention, c.Duplicates)
		}
		if s.retention == jetstream.WorkQueuePolicy && (c.Discard != jetstream.DiscardNew || c.MaxMsgs != cfg.MaxPending || c.MaxBytes != cfg.WorkMaxBytes) {
			t.Errorf("work queue %s: discard %v max msgs %d max bytes %d", s.name, c.Discard, c.MaxMsgs, c.MaxBytes)
		}
		if s.retention == jetstream.LimitsPolicy && c.MaxBytes != cfg.EventMaxBytes {
			t.Errorf("stream %s: max bytes %d, want %d", s.name, c.MaxBytes, cfg.EventMaxBytes)
		}
		if s.consumer == "" {
			continue
		}
		cons, err := st.Consumer(ctx, s.consumer)
		if err != nil {
			t.Errorf("consumer %s on %s: %v", s.consumer, s.name, err)
			continue
		}
		cc := cons.CachedInfo().Config
		if cc.AckPolicy != jetstream.AckExplicitPolicy || cc.AckWait != cfg.AckWait || cc.MaxDeliver != -1 || cc.MaxAckPending != cfg.MaxAckPending {
			t.Errorf("consumer %s: ack %v wait %v max deliver %d max ack pending %d", s.consumer, cc.AckPolicy, cc.AckWait, cc.MaxDeliver, cc.MaxAckPending)
		}
	}
	for _, b := range []struct {
		name    string
		ttl     time.Duration
		markers bool
		maxHist int64
	}{
		{n.ClaimBucket, cfg.ClaimTTL, false, 1},
		{n.InventoryBucket, 0, false, 1},
		{n.ConditionBucket, 0, true, 1},
		{n.ControlBucket, 0, false, 5},
		{n.LimitBucket, 0, false, 1},
		{n.LeaseBucket, 0, true, 1},
	} {
		kv, err := js.KeyValue(ctx, b.name)
		if err != nil {
			t.Errorf("bucket %s: %v", b.name, err)
			continue
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() != b.ttl || (st.LimitMarkerTTL() > 0) != b.markers || st.History() != b.maxHist {
			t.Errorf("bucket %s: ttl %v limit markers %v history %d", b.name, st.TTL(), st.LimitMarkerTTL(), st.History())
		}
		if mb := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.MaxBytes; mb != cfg.BucketMaxBytes {
			t.Errorf("bucket %s: max bytes %d, want %d", b.name, mb, cfg.BucketMaxBytes)
		}
	}
}

func TestSetupIdempotent(t *testing.T) {
	t.Parallel()
	s, js := connect(t)
	cfg := bus.DefaultTopology()

	t.Run("twice in a row", func(t *testing.T) {
		first := setup(t, js, "copyguard", &cfg)
		second := setup(t, js, "copyguard", &cfg)
		if first.Names != second.Names || second.Names != bus.NamesFor("copyguard") {
			t.Errorf("names differ: %+v vs %+v", first.Names, second.Names)
		}
		checkTopology(t, js, "copyguard", cfg)
	})

	t.Run("two replicas at once, custom prefix", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			js := dial(t, s) // each replica has its own connection
			wg.Go(func() {
				_, errs[i] = bus.Setup(ctxT(t), js, bus.NamesFor("acme.dev"), cfg)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		}
		checkTopology(t, js, "acme.dev", cfg)
	})

	t.Run("prefixes do not share messages", func(t *testing.T) {
		ctx := ctxT(t)
		if _, err := js.Publish(ctx, "acme.dev.trigger.budget.exceeded", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		acme, _ := js.Stream(ctx, "ACME_DEV_TRIGGERS")
		ours, _ := js.Stream(ctx, "COPYGUARD_TRIGGERS")
		if streamMsgs(t, acme) != 1 || streamMsgs(t, ours) != 0 {
			t.Errorf("acme.dev holds %d, copyguard %d; want 1 and 0", streamMsgs(t, acme), streamMsgs(t, ours))
		}
	})

	t.Run("a changed setting is refused, and applied with Update", func(t *testing.T) {
		changed := cfg
		changed.AckWait = 7 * time.Second
		changed.MaxAckPending = 16
		_, err := bus.Setup(ctxT(t), js, bus.NamesFor("copyguard"), changed)
		var mm *bus.MismatchError
		if !errors.As(err, &mm) {
			t.Fatalf("Setup with other consumer settings: %v, want a *bus.MismatchError", err)
		}
		want := "consumer COPYGUARD_TRIGGERS/triggers differs from this replica's settings: ack_wait is 5s in NATS, 7s here; " +
			"max_ack_pending is 1024 in NATS, 16 here (--update-topology applies this replica's settings)"
		if err.Error() != want {
			t.Errorf("error:\n%s\nwant\n%s", err, want)
		}
		checkTopology(t, js, "copyguard", cfg) // nothing changed

		var logged []string
		changed.Update = true
		changed.Logf = func(f string, args ...any) { logged = append(logged, fmt.Sprintf(f, args...)) }
		setup(t, js, "copyguard", &changed)
		checkTopology(t, js, "copyguard", changed)
		if len(logged) != 6 || logged[0] != "consumer COPYGUARD_TRIGGERS/triggers updated: ack_wait 5s -> 7s" {
			t.Errorf("logged %q, want two changes for each of three consumers", logged)
		}
	})

	t.Run("an events stream without the audit subject needs Update once", func(t *testing.T) {
		// As a worker from before copyguard.audit left it.
		n := bus.NamesFor("old")
		if _, err := bus.Setup(ctxT(t), js, n, cfg); err != nil {
			t.Fatal(err)
		}
		s, err := js.Stream(ctxT(t), n.EventStream)
		if err != nil {
			t.Fatal(err)
		}
		old := s.CachedInfo().Config
		old.Subjects = []string{n.DecisionSubject(), "old.result.>", n.RejectedSubject()}
		if _, err := js.UpdateStream(ctxT(t), old); err != nil {
			t.Fatal(err)
		}
		_, err = bus.Setup(ctxT(t), js, n, cfg)
		want := "stream OLD_EVENTS differs from this replica's settings: subjects is [old.decision old.rejected old.result.>] in NATS, " +
			"[old.audit old.decision old.rejected old.result.>] here (--update-topology applies this replica's settings)"
		if err == nil || err.Error() != want {
			t.Errorf("error:\n%v\nwant\n%s", err, want)
		}
		var logged []string
		upd := cfg
		upd.Update = true
		upd.Logf = func(f string, args ...any) { logged = append(logged, fmt.Sprintf(f, args...)) }
		setup(t, js, "old", &upd)
		checkTopology(t, js, "old", cfg)
		if len(logged) != 1 || !strings.HasPrefix(logged[0], "stream OLD_EVENTS updated: subjects") {
			t.Errorf("logged %q", logged)
		}
	})

	t.Run("replicas are never changed silently", func(t *testing.T) {
		// A single server cannot hold R3; a smaller dedup window stands in
		// for any stream setting.
		changed := cfg
		changed.DedupWindow = time.Minute
		_, err := bus.Setup(ctxT(t), js, bus.NamesFor("copyguard"), changed)
		want := "stream COPYGUARD_TRIGGERS differs from this replica's settings: duplicate_window is 10m0s in NATS, 1m0s here (--update-topology applies this replica's settings)"
		if err == nil || err.Error() != want {
			t.Errorf("error:\n%v\nwant\n%s", err, want)
		}
	})
}
