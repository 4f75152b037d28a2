package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/internal/world"
)

// The roles of deploy/nats/permissions.conf and their passwords for this
// test (the file reads them from the server's environment).
var rolePasswords = map[string]string{
	"worker": "pw-worker", "operator": "pw-operator", "publisher": "pw-publisher",
	"producer": "pw-producer", "watcher": "pw-watcher",
}

// TestPermissions runs the worker, a trigger publisher, an inventory
// producer, an operator and a watcher against a server configured with
// exactly deploy/nats/permissions.conf: each can do its job, and every
// forged write (a job, a claim, an inventory entry, a condition, the
// pause switch, a trigger or copy event from the wrong role) is refused
// and changes nothing.
func TestPermissions(t *testing.T) {
	for role, pw := range rolePasswords {
		t.Setenv("COPYGUARD_"+strings.ToUpper(role)+"_PASSWORD", pw)
	}
	w, err := world.New(world.Config{StoreDir: t.TempDir(), NATSConfigFile: "../../deploy/nats/permissions.conf",
		ConnOptions: roleOptions("worker")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	names := w.Names()

	cfg := w.AppConfig("perm-worker")
	cfg.PolicyPaths = []string{"testdata/policies.yaml"}
	cfg.QPS, cfg.Burst = 1000, 50
	cfg.NATSAuth = bus.Auth{User: "worker", Password: rolePasswords["worker"]}
	cfg.NATSInboxPrefix = "_INBOX_worker"
	a, err := w.StartApp(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), nil)
	if err != nil {
		t.Fatalf("the worker with its permissions: %v", err)
	}
	natstest.WaitFor(t, "the worker ready", 20*time.Second, func() bool { return a.Ready() == nil })

	conns := map[string]jetstream.JetStream{}
	for role := range rolePasswords {
		nc, err := nats.Connect(w.NATSURL(), roleOptions(role)...)
		if err != nil {
			t.Fatalf("connect as %s: %v", role, err)
		}
		t.Cleanup(nc.Close)
		conns[role], _ = jetstream.New(nc)
	}

	// The watcher follows the events stream: the role can read it.
	var mu sync.Mutex
	var results []event.Result
	cons, err := conns["watcher"].OrderedConsumer(t.Context(), names.EventStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("the watcher reads the events stream: %v", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ev, err := event.Decode(m.Data(), 1<<20)
		if err != nil || ev.Type != event.TypeResult {
			return
		}
		var r event.Result
		mustUnmarshal(t, ev.Data, &r)
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)

	// The producer announces a copy, the publisher triggers its cancel.
	sim := w.Sim()
	id := sim.AddImage(ecssim.Image{ID: "m-perm000001", Region: "cn-shanghai", IsCopied: true, SourceImageID: "m-source0001",
		SourceRegion: "cn-hangzhou", Tags: map[string]string{"cost-center": "team-p"}, CopyTime: time.Hour})
	publishAs(t, conns["producer"], names.CopySubject("started"), "copy.started", "started-"+id, map[string]any{
		"image_id": id, "region": "cn-shanghai", "source_region": "cn-hangzhou", "tags": map[string]string{"cost-center": "team-p"},
	})
	natstest.WaitFor(t, "the copy in the inventory", 20*time.Second, func() bool { return a.Worker.Inventory().Len() == 1 })
	publishAs(t, conns["publisher"], names.TriggerSubject("budget.exceeded"), "budget.exceeded", "perm-b-1",
		map[string]any{"budget": "q4", "percent": 120, "scope": map[string]any{"tags": map[string]string{"cost-center": "team-p"}}})
	natstest.WaitFor(t, "the cancel's result at the watcher", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(results) == 1 && results[0].Outcome == "cancelled" && results[0].ImageID == id
	})

	// The operator pauses: it may write the pause switch.
	control, err := conns["operator"].KeyValue(t.Context(), names.ControlBucket)
	if err != nil {
		t.Fatalf("the operator binds the control bucket: %v", err)
	}
	if _, err := control.Put(t.Context(), "pause", []byte(`{"paused":true,"reason":"permission test","by":"operator"}`)); err != nil {
		t.Fatalf("the operator pauses: %v", err)
	}
	natstest.WaitFor(t, "the worker to see the pause", 10*time.Second, func() bool { _, p := a.Worker.Paused(); return p })

	// Forged writes, each by every role that must not make it.
	job := []byte(`{"trigger":{"id":"forged","type":"cancel.requested","source":"x"},"copy":{"image_id":"m-forged0001","region":"cn-shanghai"}}`)
	forged := []struct {
		what, subject string
		body          []byte
		roles         []string
	}{
		{"a job", names.JobSubject("cn-shanghai"), job, []string{"operator", "publisher", "producer", "watcher"}},
		{"a claim", "$KV." + names.ClaimBucket + ".cn-shanghai.m-forged0001", []byte(`{"state":"done"}`), []string{"publisher", "producer", "watcher"}},
		{"an inventory entry", "$KV." + names.InventoryBucket + ".cn-shanghai.m-forged0001", []byte(`{"image_id":"m-forged0001"}`), []string{"operator", "publisher", "producer", "watcher"}},
		{"a condition", "$KV." + names.ConditionBucket + ".forged", []byte(`{}`), []string{"operator", "publisher", "producer", "watcher"}},
		{"the pause switch", "$KV." + names.ControlBucket + ".pause", []byte(`{"paused":false}`), []string{"worker", "publisher", "producer", "watcher"}},
		{"a trigger", names.TriggerSubject("cancel.requested"), []byte(`{}`), []string{"worker", "operator", "producer", "watcher"}},
		{"a copy.finished", names.CopySubject("finished"), []byte(`{}`), []string{"worker", "operator", "publisher", "watcher"}},
		{"a result", names.ResultSubject("cancelled"), []byte(`{}`), []string{"operator", "publisher", "producer", "watcher"}},
	}
	for _, f := range forged {
		for _, role := range f.roles {
			t.Run(fmt.Sprintf("%s may not publish %s", role, f.what), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				if _, err := conns[role].Publish(ctx, f.subject, f.body); err == nil {
					t.Errorf("%s published %s on %s", role, f.what, f.subject)
				}
			})
		}
	}
	// Reads a role must not make.
	for _, r := range []struct{ role, what string }{{"publisher", "events"}, {"producer", "events"}} {
		if _, err := conns[r.role].OrderedConsumer(t.Context(), names.EventStream, jetstream.OrderedConsumerConfig{}); err == nil {
			t.Errorf("%s reads the %s stream", r.role, r.what)
		}
	}
	for _, role := range []string{"publisher", "producer", "watcher"} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		if _, err := conns[role].KeyValue(ctx, names.ClaimBucket); err == nil {
			t.Errorf("%s binds the claims bucket", role)
		}
		cancel()
	}

	// Nothing forged landed: the pause still holds, no forged claim, job,
	// inventory entry or condition exists (read as the worker).
	if _, p := a.Worker.Paused(); !p {
		t.Error("the pause was lifted by a forged write")
	}
	wjs := conns["worker"]
	for _, b := range []struct{ bucket, key string }{
		{names.ClaimBucket, "cn-shanghai.m-forged0001"}, {names.InventoryBucket, "cn-shanghai.m-forged0001"}, {names.ConditionBucket, "forged"},
	} {
		kv, err := wjs.KeyValue(t.Context(), b.bucket)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Get(t.Context(), b.key); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("%s/%s: %v, want not found", b.bucket, b.key, err)
		}
	}
	if calls := sim.TotalCalls("CancelCopyImage"); calls != 1 {
		t.Errorf("%d CancelCopyImage calls, want 1 (the real trigger's)", calls)
	}
}

func roleOptions(role string) []nats.Option {
	return []nats.Option{nats.UserInfo(role, rolePasswords[role]), nats.CustomInboxPrefix("_INBOX_" + role), nats.Timeout(2 * time.Second),
		// The forged writes are refused on purpose; nats.go would print
		// each refusal to stderr.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}
}

func publishAs(t *testing.T, js jetstream.JetStream, subject, typ, id string, data map[string]any) {
	t.Helper()
	msg, err := world.EventMsg(subject, typ, "test", id, data)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}
