package worker

import (
	"errors"
	"fmt"
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
	// Describer re-reads copies before a cancel (recheck.go); nil: no
	// re-check.
	Describer Describer
	Publisher Publisher
	// Claims holds one claim per decided copy, Copies the shared inventory,
	// Conditions the active conditions (needs per-key TTL), Limits the
	// fleet's API budget per region (limiter.go).
	Claims, Copies, Conditions, Limits KV

	Prefix      string // subject prefix, "copyguard"
	Instance    string // this replica's name in results
	Regions     []string
	DryRun      bool
	MaxBodySize int // bytes; 0 = 64 KiB

	QPS         float64 // API calls per second per region, for the whole fleet
	Burst       int
	Retry       RetryPolicy
	CallTimeout time.Duration // one CancelCopyImage call

	ReconcileEvery time.Duration
	// RecheckAfter: a cancel decided on an observation older than this
	// reads the copy again first, when the policies read what may have
	// changed (recheck.go).
	RecheckAfter time.Duration

	Logger *zap.Logger
	// Registerer receives the worker's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	Now        func() time.Time

	// Prober proves access to a region (DescribeImages, PageSize=1): the
	// start-up check and the circuit breaker's probe. nil: Lister's
	// ListCopies is the probe.
	Prober Prober
	// BreakerThreshold is how many consecutive credential errors in a
	// region, across the fleet, open its circuit; BreakerProbe how often
	// an open circuit is probed (and a held job handed back).
	BreakerThreshold int
	BreakerProbe     time.Duration

	// Leases holds the per-region reconcile leases and the record of each
	// region's last listing (lease.go); it needs per-key TTL. nil: this
	// replica lists every region itself and keeps the records in memory.
	Leases KV
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
	if c.Claims == nil || c.Copies == nil || c.Conditions == nil || c.Limits == nil {
		errs = append(errs, errors.New("kv buckets: claims, copies, conditions and limits are required"))
	}
	if c.QPS < 0 {
		errs = append(errs, fmt.Errorf("qps: %v is negative", c.QPS))
	}
	return errors.Join(errs...)
}

// DefaultConfig holds the defaults of every knob that has one; New uses
// them for zero fields, and internal/app builds copyguard run's defaults
// from them, so each is written once.
func DefaultConfig() Config {
	return Config{
		Prefix: event.DefaultSubjectPrefix, Instance: "copyguard", MaxBodySize: 64 << 10,
		QPS: 10, Burst: 1, Retry: DefaultRetry(), CallTimeout: 10 * time.Second,
		ReconcileEvery: time.Minute, RecheckAfter: 30 * time.Second, BreakerThreshold: 5, BreakerProbe: 30 * time.Second,
	}
}

func (c *Config) defaults() {
	d := DefaultConfig()
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	if c.Instance == "" {
		c.Instance = d.Instance
	}
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = d.MaxBodySize
	}
	if c.QPS == 0 {
		c.QPS = d.QPS
	}
	if c.Burst <= 0 {
		c.Burst = d.Burst
	}
	c.Retry = c.Retry.withDefaults()
	if c.CallTimeout <= 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.ReconcileEvery <= 0 {
		c.ReconcileEvery = d.ReconcileEvery
	}
	if c.RecheckAfter <= 0 {
		c.RecheckAfter = d.RecheckAfter
	}
	if c.BreakerThreshold <= 0 {
		c.BreakerThreshold = d.BreakerThreshold
	}
	if c.BreakerProbe <= 0 {
		c.BreakerProbe = d.BreakerProbe
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
