package app_test

import (
	"context"
	"encoding/json"
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
	"github.com/copyguard/copyguard/internal/app"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/internal/world"
	"github.com/copyguard/copyguard/worker"
)

// env is one end-to-end test world (internal/world: a real nats-server
// with JetStream, the ECS simulator behind a real HTTP listener, the real
// SDK client) and observers of the events copyguard publishes.
type env struct {
	t     *testing.T
	w     *world.World
	sim   *ecssim.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	names bus.Names

	mu        sync.Mutex
	results   map[string][]event.Result // by region/image_id
	decisions []event.Decision
	rejected  []event.Rejected
	seededIDs []string
	observing bool
}

func (e *env) seeded() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.seededIDs...)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, world.Config{StoreDir: t.TempDir()})
}

// newEnvWith is newEnv on a world made with cfg (a NATS cluster, say).
func newEnvWith(t *testing.T, cfg world.Config) *env {
	t.Helper()
	w, err := world.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return &env{t: t, w: w, sim: w.Sim(), nc: w.Conn(), js: w.JetStream(), names: w.Names(), results: map[string][]event.Result{}}
}

// config is a worker configuration pointing at this env.
func (e *env) config(instance string) app.Config {
	c := e.w.AppConfig(instance)
	c.PolicyPaths = []string{"testdata/policies.yaml"}
	c.QPS, c.Burst = 1000, 50
	c.MaxRetryTime = 20 * time.Second
	return c
}

// start runs a worker in this process and stops it at cleanup.
func (e *env) start(c app.Config) *app.App {
	e.t.Helper()
	log := zaptest.NewLogger(e.t, zaptest.Level(zap.WarnLevel))
	a, err := e.w.StartApp(context.Background(), c, log, nil)
	if err != nil {
		e.t.Fatalf("start worker %s: %v", c.InstanceID, err)
	}
	e.t.Cleanup(a.Stop)
	e.observe()
	return a
}

// observe follows the event stream once the worker has created it.
func (e *env) observe() {
	e.mu.Lock()
	already := e.observing
	e.observing = true
	e.mu.Unlock()
	if already {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	cons, err := e.js.OrderedConsumer(ctx, e.names.EventStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		e.t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ev, err := event.Decode(m.Data(), 1<<20)
		if err != nil {
			e.t.Errorf("copyguard published an invalid event on %s: %v", m.Subject(), err)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		switch ev.Type {
		case event.TypeResult:
			var r event.Result
			mustUnmarshal(e.t, ev.Data, &r)
			if want := "copyguard.result." + r.Outcome; m.Subject() != want {
				e.t.Errorf("result on %s, want %s", m.Subject(), want)
			}
			if err := r.Validate(); err != nil {
				e.t.Errorf("invalid result %+v: %v", r, err)
			}
			k := r.Region + "/" + r.ImageID
			e.results[k] = append(e.results[k], r)
		case event.TypeDecision:
			var d event.Decision
			mustUnmarshal(e.t, ev.Data, &d)
			if err := d.Validate(); err != nil {
				e.t.Errorf("invalid decision %+v: %v", d, err)
			}
			e.decisions = append(e.decisions, d)
		case event.TypeRejected:
			var r event.Rejected
			mustUnmarshal(e.t, ev.Data, &r)
			if err := r.Validate(); err != nil {
				e.t.Errorf("invalid rejection %+v: %v", r, err)
			}
			e.rejected = append(e.rejected, r)
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cc.Stop)
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	if err := json.Unmarshal(b, v); err != nil {
		t.Errorf("unmarshal %s: %v", b, err)
	}
}

// copyOpts describe a seeded copy.
type copyOpts struct {
	region, costCenter string
	protect            bool
	status             string // "" = in flight
	notInSim           bool   // announced by copy.started but unknown to the API
}

// seed creates a copy in the simulator and announces it with copy.started.
func (e *env) seed(o copyOpts) string {
	e.t.Helper()
	tags := map[string]string{"cost-center": o.costCenter}
	if o.protect {
		tags["protect"] = "true"
	}
	id := fmt.Sprintf("m-%s%06d", strings.ReplaceAll(o.region, "-", "")[:4], len(e.seeded())+1)
	if !o.notInSim {
		id = e.sim.AddImage(ecssim.Image{ID: id, Region: o.region, IsCopied: true, SourceImageID: "m-source0001",
			SourceRegion: "cn-hangzhou", Tags: tags, SizeGB: 20, Status: o.status, CopyTime: time.Hour})
	}
	e.publish(e.names.CopySubject("started"), "copy.started", "started-"+id, map[string]any{
		"image_id": id, "region": o.region, "source_image_id": "m-source0001", "source_region": "cn-hangzhou",
		"tags": tags, "size_gb": 20, "started_at": time.Now().UTC().Format(time.RFC3339),
	})
	e.mu.Lock()
	e.seededIDs = append(e.seededIDs, o.region+"/"+id)
	e.mu.Unlock()
	return id
}

func (e *env) publish(subject, typ, id string, data map[string]any) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.w.Publish(ctx, subject, typ, "test", id, data); err != nil {
		e.t.Fatalf("publish %s: %v", subject, err)
	}
}

func (e *env) publishRaw(subject, id string, body []byte) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.js.Publish(ctx, subject, body, jetstream.WithMsgID(id)); err != nil {
		e.t.Fatalf("publish %s: %v", subject, err)
	}
}

func (e *env) trigger(typ, id string, data map[string]any) {
	e.t.Helper()
	e.publish(e.names.TriggerSubject(typ), typ, id, data)
}

// waitInventory waits until a worker's mirror holds n copies.
func (e *env) waitInventory(a *app.App, n int) {
	e.t.Helper()
	natstest.WaitFor(e.t, fmt.Sprintf("%d copies in the inventory", n), 20*time.Second, func() bool { return a.Worker.Inventory().Len() == n })
}

func (e *env) result(region, id string) []event.Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]event.Result(nil), e.results[region+"/"+id]...)
}

// waitResult waits for the copy's first result and returns it.
func (e *env) waitResult(region, id string) event.Result {
	e.t.Helper()
	natstest.WaitFor(e.t, "a result for "+region+"/"+id, 30*time.Second, func() bool { return len(e.result(region, id)) > 0 })
	return e.result(region, id)[0]
}

func (e *env) decisionFor(triggerID string) (event.Decision, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.decisions {
		if d.Trigger.ID == triggerID {
			return d, true
		}
	}
	return event.Decision{}, false
}

func (e *env) waitDecision(triggerID string) event.Decision {
	e.t.Helper()
	natstest.WaitFor(e.t, "the decision on "+triggerID, 30*time.Second, func() bool { _, ok := e.decisionFor(triggerID); return ok })
	d, _ := e.decisionFor(triggerID)
	return d
}

func (e *env) setPause(paused bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := e.js.KeyValue(ctx, e.names.ControlBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	val, _ := json.Marshal(worker.PauseState{Paused: paused, Reason: "test", By: "test", At: time.Now()})
	if _, err := kv.Put(ctx, worker.PauseKey, val); err != nil {
		e.t.Fatal(err)
	}
}
