package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

	embedded *server.Server
	httpSrv  *http.Server
	client   *ecs.Client
	closed   chan struct{} // closed when the NATS connection is closed
	stopping atomic.Bool   // a disconnect is expected, not worth a warning

	consumers []*bus.Consumption
	wg        sync.WaitGroup // until every consumer has closed
	bg        sync.WaitGroup // watches, reconcile
	cancelBG  context.CancelFunc
	errc      chan error
	ready     chan struct{}
	stopOnce  sync.Once
}

// Start loads the policies, connects (or starts NATS), sets up the
// topology and starts consuming. It returns once the worker is ready.
func Start(ctx context.Context, cfg Config, log *zap.Logger, reg *prometheus.Registry) (a *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	set, err := policy.Load(cfg.PolicyPaths...)
	if err != nil {
		return nil, err
	}
	a = &App{cfg: cfg, log: log, errc: make(chan error, 8), ready: make(chan struct{}), closed: make(chan struct{})}
	defer func() {
		if err != nil {
			a.closeConn()
		}
	}()
	log.Info("policies loaded", zap.Int("policies", len(set.Policies())), zap.String("version", set.Version()))

	a.NATSURL = cfg.NATSURL
	if a.NATSURL == "" {
		a.embedded, err = bus.StartEmbedded(bus.EmbeddedConfig{
			Host: cfg.NATSHost, Port: cfg.NATSPort, StoreDir: cfg.DataDir,
			Logf: func(f string, args ...any) { log.Debug(fmt.Sprintf(f, args...)) },
		})
		if err != nil {
			return nil, err
		}
		a.NATSURL = a.embedded.ClientURL()
		log.Info("embedded nats started", zap.String("url", a.NATSURL), zap.String("data_dir", cfg.DataDir))
	}
	a.NC, err = bus.Connect(bus.ConnConfig{URL: a.NATSURL, Name: "copyguard " + cfg.InstanceID, Auth: bus.AuthFromEnv(),
		OnEvent: func(ev string, err error) {
			if ev == "closed" {
				close(a.closed)
				return
			}
			if a.stopping.Load() {
				return
			}
			log.Warn("nats "+ev, zap.Error(err))
		}})
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(a.NC)
	if err != nil {
		return nil, err
	}
	topo := bus.DefaultTopology()
	topo.Replicas, topo.ClaimTTL, topo.EventMaxAge = cfg.Replicas, cfg.ClaimTTL, cfg.EventMaxAge
	a.Topo, err = bus.Setup(ctx, js, bus.NamesFor(cfg.SubjectPrefix), topo)
	if err != nil {
		return nil, err
	}
	a.client, err = ecs.New(ecs.Config{Endpoint: cfg.ECSEndpoint, Insecure: cfg.ECSInsecure,
		AccessKeyID: cfg.ECSAccessKeyID, AccessKeySecret: cfg.ECSAccessKeySecret,
		ReadTimeout: cfg.CallTimeout})
	if err != nil {
		return nil, err
	}
	if reg != nil {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// A nil *Registry in a Registerer interface is not a nil interface:
	// pass nil only when there is no registry.
	var registerer prometheus.Registerer
	if reg != nil {
		registerer = reg
	}
	a.Worker, err = worker.New(worker.Config{
		Policies: set, Canceller: a.client, Lister: a.client, Publisher: bus.Publisher{JS: js},
		Claims: bus.KV{B: a.Topo.Claims}, Copies: bus.KV{B: a.Topo.Copies}, Conditions: bus.KV{B: a.Topo.Conditions},
		Prefix: cfg.SubjectPrefix, Instance: cfg.InstanceID, Regions: cfg.Regions, DryRun: cfg.DryRun,
		MaxBodySize: cfg.MaxBodySize, QPS: cfg.QPS, Burst: cfg.Burst,
		Retry:       worker.RetryPolicy{MaxAttempts: cfg.MaxAttempts, MaxElapsed: cfg.MaxRetryTime},
		CallTimeout: cfg.CallTimeout, ReconcileEvery: cfg.ReconcileEvery,
		Logger: log, Registerer: registerer,
	})
	if err != nil {
		return nil, err
	}
	if err := a.startHTTP(reg); err != nil {
		return nil, err
	}

	// Mirrors first: a trigger must be judged against the inventory as
	// stored, not against an empty one.
	bgctx, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	a.cancelBG = cancelBG
	mirrors := []struct {
		b     jetstream.KeyValue
		apply func(string, []byte, bool)
	}{{a.Topo.Copies, a.Worker.ApplyCopy}, {a.Topo.Conditions, a.Worker.ApplyCondition}, {a.Topo.Control, a.Worker.ApplyControl}}
	for _, m := range mirrors {
		ready := make(chan struct{})
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			if err := bus.Watch(bgctx, m.b, m.apply, ready); err != nil {
				a.errc <- fmt.Errorf("watch %s: %w", m.b.Bucket(), err)
			}
		}()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("watch %s: initial values not loaded after 30s", m.b.Bucket())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	a.bg.Add(1)
	go func() { defer a.bg.Done(); a.Worker.RunReconcile(bgctx) }()

	n := a.Topo.Names
	for _, c := range []struct {
		stream  jetstream.Stream
		name    string
		workers int
		h       bus.Handler
	}{
		{a.Topo.Inventory, n.InventoryConsumer, 4, a.Worker.HandleInventory},
		{a.Topo.Triggers, n.TriggerConsumer, cfg.TriggerWorkers, a.Worker.HandleTrigger},
		{a.Topo.Jobs, n.JobConsumer, cfg.JobWorkers, a.Worker.HandleJob},
	} {
		cons, err := c.stream.Consumer(ctx, c.name)
		if err != nil {
			return nil, fmt.Errorf("bind consumer %s: %w", c.name, err)
		}
		cc, err := bus.Consume(cons, bus.ConsumeConfig{Name: c.name, Workers: c.workers, Logger: log}, c.h)
		if err != nil {
			return nil, fmt.Errorf("consume %s: %w", c.name, err)
		}
		a.consumers = append(a.consumers, cc)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			<-cc.Closed()
			if err := cc.Err(); err != nil {
				a.errc <- fmt.Errorf("consume %s: %w", c.name, err)
			}
		}()
	}
	close(a.ready)
	log.Info("worker ready", zap.String("instance", cfg.InstanceID), zap.String("nats", a.NATSURL),
		zap.Strings("regions", cfg.Regions), zap.Bool("dry_run", cfg.DryRun), zap.String("http", a.HTTPAddr))
	return a, nil
}

func (a *App) startHTTP(reg *prometheus.Registry) error {
	if a.cfg.HTTPAddr == "" {
		return nil
	}
	mux := http.NewServeMux()
	if reg != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http-addr %s: %w", a.cfg.HTTPAddr, err)
	}
	a.HTTPAddr = ln.Addr().String()
	a.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.errc <- fmt.Errorf("http: %w", err)
		}
	}()
	return nil
}

// Reload loads the policy files again and, if they load without error,
// makes them the worker's policies. On error the running set stays.
func (a *App) Reload() error {
	set, err := policy.Load(a.cfg.PolicyPaths...)
	if err != nil {
		return err
	}
	old := a.Worker.Policies().Version()
	a.Worker.SetPolicies(set)
	a.log.Info("policies reloaded", zap.Int("policies", len(set.Policies())), zap.String("version", set.Version()), zap.String("previous_version", old))
	return nil
}

// Ready reports why the worker is not ready, or nil: NATS connected,
// streams set up and consumers running, policies loaded.
func (a *App) Ready() error {
	select {
	case <-a.ready:
	default:
		return errors.New("starting")
	}
	if a.NC == nil || !a.NC.IsConnected() {
		return errors.New("nats not connected")
	}
	if a.Worker.Policies() == nil {
		return errors.New("no policies")
	}
	return nil
}

// Err reports a fatal error of a background part (a consumer or watch).
func (a *App) Err() <-chan error { return a.errc }

// Stop shuts down in order: stop pulling new messages, wait up to
// ShutdownTimeout for in-flight work (then cancel it; the server
// redelivers what was not acked), stop the watches, drain NATS, stop the
// embedded server and the HTTP endpoints.
func (a *App) Stop() {
	a.stopOnce.Do(func() {
		a.stopping.Store(true)
		if len(a.consumers) > 0 {
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
		if a.cancelBG != nil {
			a.cancelBG()
			a.bg.Wait()
		}
		a.closeConn()
		if a.httpSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = a.httpSrv.Shutdown(ctx)
			cancel()
		}
		a.log.Info("stopped")
	})
}

func (a *App) closeConn() {
	if a.NC != nil {
		// Drain flushes pending publishes and acks before closing.
		if err := a.NC.Drain(); err == nil {
			select {
			case <-a.closed:
			case <-time.After(5 * time.Second):
			}
		}
		a.NC.Close()
	}
	if a.client != nil {
		a.client.Close()
	}
	if a.embedded != nil {
		a.embedded.Shutdown()
		a.embedded.WaitForShutdown()
	}
}
