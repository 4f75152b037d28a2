package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/copyguard/copyguard/worker"
)

// HTTP server limits: a client that opens connections and sends nothing,
// or reads nothing, must not hold them (and the process's descriptors,
// which the embedded NATS server shares) for ever.
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpReadTimeout       = 10 * time.Second
	httpWriteTimeout      = 30 * time.Second
	httpIdleTimeout       = 60 * time.Second
)

// startHTTP serves /metrics, /healthz and /readyz. It starts before NATS,
// so a probe sees "starting" rather than a refused connection, and a
// port in use is reported before anything else is started.
func (a *App) startHTTP(reg *prometheus.Registry) error {
	if a.cfg.HTTPAddr == "" {
		return nil
	}
	mux := http.NewServeMux()
	if reg != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := a.Readiness(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !rd.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rd)
	})
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http-addr %s: %w", a.cfg.HTTPAddr, err)
	}
	a.HTTPAddr = ln.Addr().String()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: httpReadHeaderTimeout, ReadTimeout: httpReadTimeout,
		WriteTimeout: httpWriteTimeout, IdleTimeout: httpIdleTimeout}
	limited := newLimitListener(ln, httpMaxConns, srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(limited); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.errc <- fmt.Errorf("http: %w", err)
		}
	}()
	a.onStop("http", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return nil
}

// Readiness is the body of /readyz: ready only when every check is.
type Readiness struct {
	Ready  bool    `json:"ready"`
	Checks []Check `json:"checks"`
}

// Check is one condition of readiness.
type Check struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Regions, for the cloud check: what each region's last call said.
	Regions []worker.RegionHealth `json:"regions,omitempty"`
	// Listings, for the inventory check: each configured region's last
	// complete DescribeImages listing and last listing error.
	Listings []worker.RegionListing `json:"listings,omitempty"`
}

// jetStreamProbeTimeout bounds the JetStream check (SPEC §10: the streams
// and buckets can be read within 2 s).
const jetStreamProbeTimeout = 2 * time.Second

// Readiness evaluates every check: started, NATS connected, JetStream
// answering, publishes succeeding, file descriptors left, policies
// loaded, cloud access in every region.
func (a *App) Readiness(ctx context.Context) Readiness {
	select {
	case <-a.ready:
	default:
		// Start is still writing the fields the checks read.
		return Readiness{Checks: []Check{{Name: "started", Error: "starting"}}}
	}
	checks := []Check{
		{Name: "started", OK: true},
		check("nats", a.natsConnected()),
		check("jetstream", a.probeJetStream(ctx)),
		check("publish", a.pub.healthy(time.Now())),
		check("descriptors", a.descriptors()),
		check("policies", a.policiesLoaded()),
		check("inventory", a.inventoryListed()),
	}
	checks[len(checks)-1].Listings = a.Worker.Listings()
	cloud := Check{Name: "cloud", OK: true, Regions: a.Worker.CloudHealth()}
	var bad []string
	for _, rh := range cloud.Regions {
		if rh.Permanent || rh.CircuitOpen {
			bad = append(bad, fmt.Sprintf("%s: %s", rh.Region, rh.LastError))
		}
	}
	if len(bad) > 0 {
		cloud.OK, cloud.Error = false, strings.Join(bad, "; ")
	}
	checks = append(checks, cloud)
	rd := Readiness{Ready: true, Checks: checks}
	for _, c := range checks {
		rd.Ready = rd.Ready && c.OK
	}
	return rd
}

// Ready is Readiness as an error naming every failed check, or nil.
func (a *App) Ready() error {
	rd := a.Readiness(context.Background())
	if rd.Ready {
		return nil
	}
	var errs []string
	for _, c := range rd.Checks {
		if !c.OK {
			errs = append(errs, c.Name+": "+c.Error)
		}
	}
	return errors.New(strings.Join(errs, "; "))
}

func check(name string, err error) Check {
	if err != nil {
		return Check{Name: name, Error: err.Error()}
	}
	return Check{Name: name, OK: true}
}

func (a *App) natsConnected() error {
	if !a.NC.IsConnected() {
		return fmt.Errorf("nats %s", strings.ToLower(a.NC.Status().String()))
	}
	return nil
}

// inventoryListed holds until every configured region has had its first
// complete listing; after that a late listing is reported in the
// inventory's own metrics, not here: the inventory is kept up to date by
// copy events too, and stopping on a slow DescribeImages would stop
// every cancel.
func (a *App) inventoryListed() error {
	if a.inventoryReady.Load() {
		return nil
	}
	if why, _ := a.inventoryWait.Load().(string); why != "" {
		return errors.New(why)
	}
	return errors.New("waiting for the first listing")
}

func (a *App) policiesLoaded() error {
	if a.Worker.Policies() == nil {
		return errors.New("no policy set loaded")
	}
	return nil
}

// probeJetStream reads a stream and a bucket: a connected client whose
// JetStream does not answer (no leader, a full disk) cannot act.
func (a *App) probeJetStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, jetStreamProbeTimeout)
	defer cancel()
	if _, err := a.Topo.Triggers.Info(ctx); err != nil {
		return fmt.Errorf("stream %s: %w", a.Topo.Names.TriggerStream, err)
	}
	if _, err := a.Topo.Claims.Status(ctx); err != nil {
		return fmt.Errorf("bucket %s: %w", a.Topo.Names.ClaimBucket, err)
	}
	return nil
}

// trackedPublisher remembers how the last publishes went, for readiness:
// a JetStream that answers reads but refuses writes (its store is full or
// out of descriptors) leaves the worker unable to record anything.
type trackedPublisher struct {
	worker.Publisher

	mu      sync.Mutex
	lastErr error
	errAt   time.Time
	okAt    time.Time
}

func (p *trackedPublisher) Publish(ctx context.Context, subject, msgID string, body []byte) error {
	return p.note(p.Publisher.Publish(ctx, subject, msgID, body))
}

// note records how a publish went and returns its error.
func (p *trackedPublisher) note(err error) error {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.lastErr, p.errAt = err, now
	} else {
		p.okAt = now
	}
	return err
}

// PublishWithHeaders implements worker.HeaderPublisher when the wrapped
// publisher does (bus.Publisher does); otherwise the headers are dropped.
func (p *trackedPublisher) PublishWithHeaders(ctx context.Context, subject, msgID string, body []byte, headers map[string]string) error {
	hp, ok := p.Publisher.(worker.HeaderPublisher)
	if !ok {
		return p.Publish(ctx, subject, msgID, body)
	}
	return p.note(hp.PublishWithHeaders(ctx, subject, msgID, body, headers))
}

// publishFailureWindow is how long a failed publish with no success since
// keeps the worker not ready.
const publishFailureWindow = 30 * time.Second

// healthy is nil unless the last publish failed, recently, with no
// success after it.
func (p *trackedPublisher) healthy(now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastErr == nil || p.okAt.After(p.errAt) || now.Sub(p.errAt) > publishFailureWindow {
		return nil
	}
	return fmt.Errorf("last publish failed %s ago: %w", now.Sub(p.errAt).Round(time.Second), p.lastErr)
}

// appMetrics are the process's own series, beside the worker's.
type appMetrics struct {
	reloads *prometheus.CounterVec
	loaded  prometheus.Gauge
}

func newAppMetrics(reg prometheus.Registerer, a *App) *appMetrics {
	m := &appMetrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "copyguard_policy_reloads_total",
			Help: "Policy reloads (SIGHUP), by result: ok, or error (the running set stays)."}, []string{"result"}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{Name: "copyguard_policy_loaded_timestamp_seconds",
			Help: "When the running policy set was loaded, in Unix seconds."}),
	}
	m.loaded.SetToCurrentTime()
	if reg == nil {
		return m
	}
	started := func() bool {
		select {
		case <-a.ready:
			return true
		default:
			return false
		}
	}
	reg.MustRegister(m.reloads, m.loaded,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "copyguard_nats_connected",
			Help: "1 while the worker's NATS connection is up."}, func() float64 {
			if started() && a.NC.IsConnected() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "copyguard_ready",
			Help: "1 while /readyz would answer 200."}, func() float64 {
			if a.Readiness(context.Background()).Ready {
				return 1
			}
			return 0
		}),
	)
	return m
}
