package app

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/policy"
	"github.com/copyguard/copyguard/worker"
)

// App is a running worker with everything it needs.
type App struct {
	cfg    Config
	log    *zap.Logger
	Worker *worker.Worker
	Topo   *bus.Topology
	NC     *nats.Conn
	// NATSURL is where the worker's NATS listens (the embedded one's address
	// when no URL was configured).
	NATSURL  string
	HTTPAddr string

	js       jetstream.JetStream
	pub      *trackedPublisher
	closed   chan struct{} // closed when the NATS connection is closed
	stopping atomic.Bool   // a disconnect is expected, not worth a warning
	m        *appMetrics

	// stops undo what Start did, run last first (as Alertmanager's run
	// does): a failed Start stops exactly what it had started.
	stops    []stopStep
	stopOnce sync.Once

	consumersMu sync.Mutex // guards consumers: the trigger consumer starts late
	consumers   []*bus.Consumption
	wg          sync.WaitGroup // until every consumer has closed
	// inventoryReady is set once every configured region has had a
	// complete listing; triggers are read only from then on.
	inventoryReady atomic.Bool
	inventoryWait  atomic.Value // string: why the inventory is not ready yet
	errc           chan error
	ready          chan struct{}
}

// stopStep is one part to stop, named for the log.
type stopStep struct {
	name string
	stop func()
}

// onStop registers how to stop the part just started.
func (a *App) onStop(name string, stop func()) { a.stops = append(a.stops, stopStep{name, stop}) }

// Start loads the policies and starts every part, each stopped again if a
// later one fails: ECS client, HTTP, NATS (embedded or connected, with
// retries for --nats-connect-timeout), topology, watches, reconcile,
// consumers. It returns once the worker is consuming. An error names the
// part and the cause in one line.
func Start(ctx context.Context, cfg Config, log *zap.Logger, reg *prometheus.Registry) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	set, err := policy.Load(cfg.PolicyPaths...)
	if err != nil {
		return nil, err
	}
	log.Info("policies loaded", zap.Int("policies", len(set.Policies())), zap.String("version", set.Version()))
	a := &App{cfg: cfg, log: log, errc: make(chan error, 8), ready: make(chan struct{}), closed: make(chan struct{})}
	if err := a.start(ctx, set, reg); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, set *policy.Set, reg *prometheus.Registry) error {
	cfg, log := a.cfg, a.log
	// A nil *Registry in a Registerer interface is not a nil interface:
	// pass nil only when there is no registry.
	var registerer prometheus.Registerer
	if reg != nil {
		registerer = reg
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	a.m = newAppMetrics(registerer, a)

	// The parts that fail on configuration alone come first, so a typo
	// costs no NATS connection.
	if err := cfg.ecsEndpointError(); err != nil {
		return err
	}
	client, err := ecs.New(ecs.Config{Endpoint: cfg.ECSHost(), Insecure: cfg.ECSInsecure,
		AccessKeyID: cfg.ECSAccessKeyID, AccessKeySecret: cfg.ECSAccessKeySecret, SecurityToken: cfg.ECSSecurityToken,
		ReadTimeout: cfg.CallTimeout})
	if err != nil {
		return err
	}
	a.onStop("ecs client", client.Close)
	if err := a.startHTTP(reg); err != nil {
		return err
	}

	a.NATSURL = cfg.NATSURL
	if a.NATSURL == "" {
		embedded, err := bus.StartEmbedded(bus.EmbeddedConfig{
			Host: cfg.NATSHost, Port: cfg.NATSPort, StoreDir: cfg.DataDir,
			ConfigFile: cfg.NATSServerConfig,
			Logf:       natsServerLog(log),
		})
		if err != nil {
			return fmt.Errorf("--nats-port %d: %w", cfg.NATSPort, err)
		}
		a.onStop("embedded nats", func() { embedded.Shutdown(); embedded.WaitForShutdown() })
		a.NATSURL = embedded.ClientURL()
		log.Info("embedded nats started", zap.String("url", a.NATSURL), zap.String("data_dir", cfg.DataDir))
	}
	if a.NC, err = a.connect(ctx); err != nil {
		return err
	}
	a.onStop("nats connection", a.closeConn)
	if a.js, err = jetstream.New(a.NC); err != nil {
		return err
	}
	topo := bus.DefaultTopology()
	topo.Replicas, topo.ClaimTTL, topo.EventMaxAge = cfg.Replicas, cfg.ClaimTTL, cfg.EventMaxAge
	topo.WorkMaxBytes, topo.EventMaxBytes, topo.BucketMaxBytes = cfg.WorkMaxBytes, cfg.EventMaxBytes, cfg.BucketMaxBytes
	topo.AckWait, topo.Update = cfg.TakeoverAfter, cfg.UpdateTopology
	var changed []string
	topo.Logf = func(f string, args ...any) {
		changed = append(changed, fmt.Sprintf(f, args...))
		log.Warn(changed[len(changed)-1])
	}
	// Creating R3 streams can wait on leader elections: give it as long
	// as reaching NATS in the first place.
	sctx, cancel := context.WithTimeout(ctx, cfg.NATSConnectTimeout)
	a.Topo, err = bus.Setup(sctx, a.js, bus.NamesFor(cfg.SubjectPrefix), topo)
	cancel()
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		if err := a.auditTopology(ctx, changed); err != nil {
			return err
		}
	}

	a.pub = &trackedPublisher{Publisher: bus.Publisher{JS: a.js}}
	a.Worker, err = worker.New(worker.Config{
		Policies: set, Canceller: client, Lister: client, Describer: client, Prober: client, Publisher: a.pub,
		Claims: bus.KV{B: a.Topo.Claims}, Copies: bus.KV{B: a.Topo.Copies}, Conditions: bus.KV{B: a.Topo.Conditions},
		Limits: bus.KV{B: a.Topo.Limits}, Leases: bus.KV{B: a.Topo.Leases},
		Prefix: cfg.SubjectPrefix, Instance: cfg.InstanceID, Regions: cfg.Regions, DryRun: cfg.DryRun,
		MaxBodySize: cfg.MaxBodySize, QPS: cfg.QPS, Burst: cfg.Burst,
		Retry:       worker.RetryPolicy{MaxAttempts: cfg.MaxAttempts, MaxElapsed: cfg.MaxRetryTime},
		CallTimeout: cfg.CallTimeout, ReconcileEvery: cfg.ReconcileEvery, RecheckAfter: cfg.RecheckAfter,
		BreakerThreshold: cfg.BreakerThreshold, BreakerProbe: cfg.BreakerProbe,
		Logger: log, Registerer: registerer,
	})
	if err != nil {
		return err
	}

	if err := a.startBackground(ctx); err != nil {
		return err
	}
	if err := a.startConsumers(ctx); err != nil {
		return err
	}
	close(a.ready)
	log.Info("worker ready", zap.String("instance", cfg.InstanceID), zap.String("nats", bus.RedactURL(a.NATSURL)),
		zap.Strings("regions", cfg.Regions), zap.Bool("dry_run", cfg.DryRun), zap.String("http", a.HTTPAddr))
	return nil
}

// connect reaches NATS, retrying for --nats-connect-timeout.
func (a *App) connect(ctx context.Context) (*nats.Conn, error) {
	return bus.Connect(ctx, bus.ConnConfig{URL: a.NATSURL, Name: "copyguard " + a.cfg.InstanceID, Auth: a.cfg.NATSAuth.Or(bus.AuthFromEnv()),
		RetryFor: a.cfg.NATSConnectTimeout, InboxPrefix: a.cfg.NATSInboxPrefix,
		OnEvent: func(ev string, err error) {
			switch ev {
			case "closed":
				close(a.closed)
				return
			case "connect_failed":
				a.log.Warn("nats not reachable yet; retrying", zap.Error(err))
				return
			}
			if a.stopping.Load() {
				return
			}
			a.log.Warn("nats "+ev, zap.Error(err))
		}})
}

// startBackground starts the mirrors of the shared buckets and the
// reconcile. Mirrors first: a trigger must be judged against the
// inventory as stored, not against an empty one.
func (a *App) startBackground(ctx context.Context) error {
	bgctx, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	a.onStop("watches and reconcile", func() { cancelBG(); bg.Wait() })
	for _, m := range []struct {
		b     jetstream.KeyValue
		apply func(string, []byte, bool)
	}{{a.Topo.Copies, a.Worker.ApplyCopy}, {a.Topo.Conditions, a.Worker.ApplyCondition}, {a.Topo.Control, a.Worker.ApplyControl}} {
		ready := make(chan struct{})
		bg.Go(func() {
			if err := bus.Watch(bgctx, m.b, m.apply, ready); err != nil {
				a.errc <- fmt.Errorf("watch %s: %w", m.b.Bucket(), err)
			}
		})
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("watch %s: initial values not loaded after 30s", m.b.Bucket())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	a.checkCloud(ctx)
	bg.Go(func() { a.Worker.RunReconcile(bgctx) })
	bg.Go(func() { a.Worker.RunBreakers(bgctx) })
	return nil
}

// checkCloud makes one DescribeImages per configured region at start and
// logs each failure. A cloud error does not stop the start: the fleet may
// fix the key, and the breaker and /readyz say so meanwhile.
func (a *App) checkCloud(ctx context.Context) {
	if len(a.cfg.Regions) == 0 {
		a.log.Warn("no --regions: copies are known only from copy.started events")
		return
	}
	for _, re := range a.Worker.CheckCloud(ctx) {
		a.log.Error(re.Error(), zap.String("region", re.Region))
	}
}

// startConsumers starts pulling inventory events and jobs at once, and
// triggers once the inventory is ready: a trigger decided against an
// inventory that was never listed would match nothing and be acked, lost
// for the copies it should have found. It waits unread in its stream
// instead. Jobs pull only a few messages ahead of their handlers: a job
// handler can wait seconds for its region's call slot, and a prefetched
// message's AckWait (the takeover time) runs while it waits unheartbeated.
func (a *App) startConsumers(ctx context.Context) error {
	n := a.Topo.Names
	if err := a.consume(ctx, a.Topo.Inventory, n.InventoryConsumer, 4, 0, a.Worker.HandleInventory); err != nil {
		return err
	}
	if err := a.consume(ctx, a.Topo.Jobs, n.JobConsumer, a.cfg.JobWorkers, jobPrefetch, a.Worker.HandleJob); err != nil {
		return err
	}
	gctx, cancelGate := context.WithCancel(context.WithoutCancel(ctx))
	var gate sync.WaitGroup
	a.onStop("consumers", func() { cancelGate(); gate.Wait(); a.stopConsumers() })
	gate.Go(func() {
		if !a.waitInventory(gctx) {
			return
		}
		if err := a.consume(gctx, a.Topo.Triggers, n.TriggerConsumer, a.cfg.TriggerWorkers, 0, a.Worker.HandleTrigger); err != nil {
			a.errc <- err
		}
	})
	return nil
}

// inventoryPoll is how often the trigger gate asks whether every
// configured region has been listed.
const inventoryPoll = 250 * time.Millisecond

// waitInventory waits until every configured region has had a complete
// listing, by this replica or another. It reports false if ctx ended.
func (a *App) waitInventory(ctx context.Context) bool {
	logged := false
	for {
		err := a.Worker.InventoryReady(ctx, time.Now())
		if err == nil {
			a.inventoryReady.Store(true)
			if logged {
				a.log.Info("inventory listed; reading triggers")
			}
			return true
		}
		a.inventoryWait.Store(err.Error())
		if !logged {
			a.log.Info("triggers wait until every region has been listed", zap.Error(err))
			logged = true
		}
		t := time.NewTimer(inventoryPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// consume starts one consumer loop and watches it end.
func (a *App) consume(ctx context.Context, stream jetstream.Stream, name string, workers, prefetch int, h bus.Handler) error {
	cons, err := stream.Consumer(ctx, name)
	if err != nil {
		return fmt.Errorf("bind consumer %s: %w", name, err)
	}
	cc, err := bus.Consume(cons, bus.ConsumeConfig{Name: name, Workers: workers, Prefetch: prefetch, Logger: a.log}, h)
	if err != nil {
		return fmt.Errorf("consume %s: %w", name, err)
	}
	a.consumersMu.Lock()
	a.consumers = append(a.consumers, cc)
	a.consumersMu.Unlock()
	a.wg.Go(func() {
		<-cc.Closed()
		if err := cc.Err(); err != nil {
			a.errc <- fmt.Errorf("consume %s: %w", name, err)
		}
	})
	return nil
}

// jobPrefetch is how many jobs are pulled ahead of the job handlers.
const jobPrefetch = 4

// stopConsumers stops pulling, waits up to ShutdownTimeout for in-flight
// work, then cancels it: the server redelivers what was not acked.
func (a *App) stopConsumers() {
	a.consumersMu.Lock()
	defer a.consumersMu.Unlock()
	for _, c := range a.consumers {
		c.Drain()
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(a.cfg.ShutdownTimeout):
		a.log.Warn("in-flight work did not finish in time; handing it back", zap.Duration("timeout", a.cfg.ShutdownTimeout))
		for _, c := range a.consumers {
			c.Stop()
		}
		<-done
	}
}

// Reload loads the policy files again and, if they load without error,
// makes them the worker's policies. On error the running set stays.
func (a *App) Reload() error {
	set, err := policy.Load(a.cfg.PolicyPaths...)
	if err != nil {
		a.m.reloads.WithLabelValues("error").Inc()
		return err
	}
	old := a.Worker.Policies().Version()
	a.Worker.SetPolicies(set)
	a.m.reloads.WithLabelValues("ok").Inc()
	a.m.loaded.SetToCurrentTime()
	a.log.Info("policies reloaded", zap.Int("policies", len(set.Policies())), zap.String("version", set.Version()), zap.String("previous_version", old))
	return nil
}

// Err reports a fatal error of a background part (a consumer or watch).
func (a *App) Err() <-chan error { return a.errc }

// Stop stops every part Start started, last first: consumers (drained,
// then cut after ShutdownTimeout), watches and reconcile, the NATS
// connection (drained), the embedded server, HTTP, the ECS client.
// Calling it twice is fine.
func (a *App) Stop() {
	a.stopOnce.Do(func() {
		a.stopping.Store(true)
		for i := len(a.stops) - 1; i >= 0; i-- {
			a.log.Debug("stopping", zap.String("part", a.stops[i].name))
			a.stops[i].stop()
		}
		a.log.Info("stopped")
	})
}

func (a *App) closeConn() {
	// Drain flushes pending publishes and acks before closing.
	if err := a.NC.Drain(); err == nil {
		select {
		case <-a.closed:
		case <-time.After(5 * time.Second):
		}
	}
	a.NC.Close()
}

// natsServerLog logs the embedded server's lines at their own level: its
// errors (a store out of descriptors) must reach the operator, its
// notices are only interesting when looking.
func natsServerLog(log *zap.Logger) func(level, msg string) {
	return func(level, msg string) {
		switch level {
		case "error":
			log.Error("nats server: " + msg)
		case "warn":
			log.Warn("nats server: " + msg)
		default:
			log.Debug("nats server: " + msg)
		}
	}
}
