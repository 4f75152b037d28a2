package worker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// Config holds what a Worker needs. Policies, Canceller, Publisher and the
// three buckets are required; the rest have defaults.
type Config struct {
	Policies  *policy.Set
	Canceller Canceller
	Lister    Lister // nil: no DescribeImages reconcile
	Publisher Publisher
	// Claims holds one claim per decided copy, Copies the shared inventory,
	// Conditions the active conditions (needs per-key TTL).
	Claims, Copies, Conditions KV

	Prefix      string // subject prefix, "copyguard"
	Instance    string // this replica's name in results
	Regions     []string
	DryRun      bool
	MaxBodySize int // bytes; 0 = 64 KiB

	QPS         float64 // CancelCopyImage calls per second per region
	Burst       int
	Retry       RetryPolicy
	CallTimeout time.Duration // one CancelCopyImage call

	ReconcileEvery time.Duration

	Logger *zap.Logger
	// Registerer receives the worker's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// RetryPolicy bounds the retries of one copy's cancel.
type RetryPolicy struct {
	MaxAttempts int
	MaxElapsed  time.Duration
	BaseDelay   time.Duration
	MaxDelay    time.Duration
}

// DefaultRetry is used for zero fields of Config.Retry.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 8, MaxElapsed: 2 * time.Minute, BaseDelay: 200 * time.Millisecond, MaxDelay: 20 * time.Second}
}

func (c *Config) validate() error {
	var errs []error
	if c.Policies == nil {
		errs = append(errs, errors.New("policies: none loaded"))
	}
	if c.Canceller == nil {
		errs = append(errs, errors.New("canceller: nil"))
	}
	if c.Publisher == nil {
		errs = append(errs, errors.New("publisher: nil"))
	}
	if c.Claims == nil || c.Copies == nil || c.Conditions == nil {
		errs = append(errs, errors.New("kv buckets: claims, copies and conditions are required"))
	}
	if c.QPS < 0 {
		errs = append(errs, fmt.Errorf("qps: %v is negative", c.QPS))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "copyguard"
	}
	if c.Instance == "" {
		c.Instance = "copyguard"
	}
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = 64 << 10
	}
	if c.QPS == 0 {
		c.QPS = 10
	}
	if c.Burst <= 0 {
		c.Burst = 1
	}
	d := DefaultRetry()
	if c.Retry.MaxAttempts <= 0 {
		c.Retry.MaxAttempts = d.MaxAttempts
	}
	if c.Retry.MaxElapsed <= 0 {
		c.Retry.MaxElapsed = d.MaxElapsed
	}
	if c.Retry.BaseDelay <= 0 {
		c.Retry.BaseDelay = d.BaseDelay
	}
	if c.Retry.MaxDelay <= 0 {
		c.Retry.MaxDelay = d.MaxDelay
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.ReconcileEvery <= 0 {
		c.ReconcileEvery = time.Minute
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Worker decides and acts. Its handlers are safe for concurrent use.
type Worker struct {
	cfg      Config
	subjects event.Subjects
	log      *zap.Logger
	m        *Metrics
	policies atomic.Pointer[policy.Set]
	index    *policy.CopyIndex
	intern   interner

	mu         sync.Mutex
	conditions map[string]condition
	limiters   map[string]*limiter

	paused atomic.Pointer[PauseState]
}

// New checks cfg and returns a Worker.
func New(cfg Config) (*Worker, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	cfg.defaults()
	w := &Worker{
		cfg: cfg, subjects: event.SubjectsFor(cfg.Prefix), log: cfg.Logger, m: NewMetrics(cfg.Registerer),
		index:      policy.NewCopyIndex(),
		conditions: map[string]condition{},
		limiters:   map[string]*limiter{},
	}
	w.policies.Store(cfg.Policies)
	if cfg.Registerer != nil {
		w.registerGauges(cfg.Registerer)
	}
	return w, nil
}

// Policies returns the loaded policy set.
func (w *Worker) Policies() *policy.Set { return w.policies.Load() }

// SetPolicies replaces the policy set. Triggers decided from now on use
// it; a trigger being decided keeps the set it started with.
func (w *Worker) SetPolicies(set *policy.Set) {
	if set != nil {
		w.policies.Store(set)
	}
}

// Inventory returns the in-memory view of the shared inventory.
func (w *Worker) Inventory() *policy.CopyIndex { return w.index }

// Paused reports the pause switch as this worker last saw it.
func (w *Worker) Paused() (PauseState, bool) {
	p := w.paused.Load()
	if p == nil || !p.Paused {
		return PauseState{}, false
	}
	return *p, true
}

func (w *Worker) limiter(region string) *limiter {
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.limiters[region]
	if !ok {
		l = newLimiter(w.cfg.QPS, w.cfg.Burst, w.cfg.Now)
		w.limiters[region] = l
	}
	return l
}
