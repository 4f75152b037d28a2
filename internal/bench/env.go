package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/internal/app"
	"github.com/copyguard/copyguard/internal/waitfor"
	"github.com/copyguard/copyguard/internal/world"
)

// regions are the simulator's regions; the bench spreads copies over
// the first few.
var regions = ecssim.DefaultRegions

// env is one scenario's world (an embedded nats-server with JetStream, the
// ECS simulator behind a loopback listener with a spy in front, the worker
// on the real SDK client) and the bench's means to drive and watch it.
type env struct {
	world *world.World
	sim   *ecssim.Server
	spy   *cancelSpy
	app   *app.App
	js    jetstream.JetStream // with the async publish limits below
	names bus.Names
	obs   *observer
	reg   *prometheus.Registry // the worker's metrics
	// asyncErrs counts async publishes the server did not store.
	asyncErrs atomic.Int64
	// simConns counts TCP connections the simulator accepted.
	simConns atomic.Int64
}

// envConfig holds what differs between scenarios: the worker's per-region
// rate limit.
type envConfig struct {
	qps   float64
	burst int
}

func startEnv(ctx context.Context, o *Options, wc envConfig) (w *env, err error) {
	w = &env{names: bus.NamesFor(event.DefaultSubjectPrefix)}
	// Copies wait an hour before they start copying, so every cancel in the
	// bench finds its copy cancellable.
	w.world, err = world.New(world.Config{
		Sim:     ecssim.Config{Regions: regions, WaitFor: time.Hour, CopyTime: time.Hour},
		WrapSim: func(sim http.Handler) http.Handler { w.spy = newCancelSpy(sim); return w.spy },
		// Counting connections shows whether the SDK client reuses them.
		SimConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				w.simConns.Add(1)
			}
		},
		ConnName: "copyguard bench",
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	w.sim = w.world.Sim()
	policyDir, err := w.world.WritePolicies(policyFiles())
	if err != nil {
		return w, err
	}
	cfg := w.world.AppConfig("bench")
	cfg.PolicyPaths = []string{policyDir}
	// No regions: no DescribeImages reconcile, which would compete with the
	// measured path and remove the copies the bench puts only in the KV.
	cfg.Regions = nil
	cfg.QPS, cfg.Burst = wc.qps, wc.burst
	cfg.TriggerWorkers, cfg.JobWorkers = o.TriggerWorkers, o.JobWorkers
	w.reg = prometheus.NewRegistry()
	if w.app, err = w.world.StartApp(ctx, cfg, o.Log, w.reg); err != nil {
		return w, fmt.Errorf("start worker: %w", err)
	}
	w.js, err = jetstream.New(w.world.Conn(), jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { w.asyncErrs.Add(1) }))
	if err != nil {
		return w, err
	}
	w.obs, err = observe(w.world.Conn(), w.names)
	return w, err
}

func (w *env) close() {
	if w.obs != nil {
		w.obs.stop()
	}
	w.world.Close()
}

// seed makes copies known: to the simulator (inSim) so a cancel succeeds,
// and to the worker through direct puts into the inventory bucket, which
// the worker mirrors into memory (faster than copy.started events, and
// the same state). It returns once the worker's mirror holds them all.
func (w *env) seed(ctx context.Context, copies []cloud.Copy, inSim bool) error {
	if inSim {
		for _, c := range copies {
			if _, err := w.sim.Seed(ecssim.Image{ID: c.ImageID, Region: c.Region, Name: c.Name, IsCopied: true,
				SourceImageID: c.SourceImageID, SourceRegion: c.SourceRegion, SizeGB: c.SizeGB, Tags: c.Tags, Created: time.Now()}); err != nil {
				return err
			}
		}
	}
	want := w.app.Worker.Inventory().Len() + len(copies)
	prefix := "$KV." + w.names.InventoryBucket + "."
	for _, c := range copies {
		val, err := json.Marshal(c)
		if err != nil {
			return err
		}
		m := nats.NewMsg(prefix + c.Region + "." + c.ImageID)
		m.Data = val
		if err := w.publishAsync(ctx, m); err != nil {
			return fmt.Errorf("put copy %s: %w", c.ImageID, err)
		}
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	return wait(ctx, 2*time.Minute, fmt.Sprintf("%d copies in the worker's inventory", want), nil,
		func() bool { return w.app.Worker.Inventory().Len() >= want })
}

// publishAsync publishes without waiting for the ack, as a fast producer
// does; when too many acks are outstanding it waits for them and goes on.
func (w *env) publishAsync(ctx context.Context, m *nats.Msg) error {
	for {
		_, err := w.js.PublishMsgAsync(m)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return err
		}
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
}

// flush waits for the acks of every async publish, and fails if the
// server refused any.
func (w *env) flush(ctx context.Context) error {
	select {
	case <-w.js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Minute):
		return errors.New("async publishes not acknowledged after 2m")
	}
	if n := w.asyncErrs.Load(); n > 0 {
		return fmt.Errorf("%d async publishes failed", n)
	}
	return nil
}

// triggerMsg encodes a trigger as a producer would send it.
func triggerMsg(typ, id string, data map[string]any) (*nats.Msg, error) {
	return world.EventMsg(bus.NamesFor(event.DefaultSubjectPrefix).TriggerSubject(typ), typ, "copyguard-bench", id, data)
}

// inFlightCopy is an in-flight copy for the worker scenarios: nothing in it
// makes a protect policy veto its cancel.
func inFlightCopy(i int, region, batch string) cloud.Copy {
	return cloud.Copy{
		ImageID: fmt.Sprintf("m-bench%07d", i), Region: region, SourceImageID: "m-benchsource01", SourceRegion: "cn-hangzhou",
		Status: cloud.StatusWaiting, SizeGB: 40, Name: fmt.Sprintf("bench-%d", i),
		Tags: map[string]string{"batch": batch, "cost-center": "cc-bench", "team": "bench", "env": "dev"}, StartedAt: time.Now().UTC(),
	}
}

// wait polls cond until it holds, waking on notify (if any) or every
// 2 ms.
func wait(ctx context.Context, timeout time.Duration, what string, notify <-chan struct{}, cond func() bool) error {
	return waitfor.Until(ctx, what, timeout, 2*time.Millisecond, notify, cond)
}

// histMean is the mean of one of the worker's histograms, in ms, and its
// sample count; it splits a latency into the worker's own stages.
func (w *env) histMean(name string) (float64, uint64) {
	mfs, err := w.reg.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		var n uint64
		for _, m := range mf.GetMetric() {
			sum += m.GetHistogram().GetSampleSum()
			n += m.GetHistogram().GetSampleCount()
		}
		if n == 0 {
			return 0, 0
		}
		return 1000 * sum / float64(n), n
	}
	return 0, 0
}
