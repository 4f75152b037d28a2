package worker

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's Prometheus series. They are registered on the
// registry given to NewMetrics, never on the global default.
type Metrics struct {
	Triggers      *prometheus.CounterVec // by type
	Rejected      *prometheus.CounterVec // by stream (trigger, inventory)
	Decisions     *prometheus.CounterVec // by action
	Results       *prometheus.CounterVec // by outcome
	CancelCalls   *prometheus.CounterVec // by region, code ("" = ok)
	Retries       *prometheus.CounterVec // by region, code
	EvalErrors    prometheus.Counter
	DecideSeconds prometheus.Histogram
	CallSeconds   *prometheus.HistogramVec // by region
	ToCallSeconds prometheus.Histogram     // trigger decided -> cancel call sent
	Paused        prometheus.Gauge
	CircuitOpen   *prometheus.GaugeVec // by region: 1 while its circuit is open

	Reconciles       *prometheus.CounterVec   // by region, result (ok, error, skipped)
	ReconcileSeconds *prometheus.HistogramVec // by region

	Rechecks *prometheus.CounterVec // copies re-read before a cancel, by region
}

// NewMetrics makes the series and registers them on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ns := "copyguard"
	m := &Metrics{
		Rechecks:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rechecks_total", Help: "Copies read again with DescribeImages before a cancel, by region."}, []string{"region"}),
		Triggers:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "triggers_total", Help: "Triggers decided, by type: a built-in type or one a loaded policy names; any other type is counted as other."}, []string{"type"}),
		Rejected:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rejected_total", Help: "Input events rejected, by input kind."}, []string{"input"}),
		Decisions:   prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "decisions_total", Help: "Per-copy decisions, by action."}, []string{"action"}),
		Results:     prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "results_total", Help: "Results published, by outcome."}, []string{"outcome"}),
		CancelCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "cancel_calls_total", Help: "CancelCopyImage calls, by region and error code (empty: success); regions besides --regions past the first 32, and codes past the first 64, are counted as other."}, []string{"region", "code"}),
		Retries:     prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "retries_total", Help: "Retried CancelCopyImage calls, by region and error code."}, []string{"region", "code"}),
		EvalErrors:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "eval_errors_total", Help: "CEL runtime errors while evaluating policies."}),
		DecideSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "decide_seconds", Help: "Time from trigger received to decision published.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		CallSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "cancel_call_seconds", Help: "CancelCopyImage call latency.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"region"}),
		ToCallSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "decided_to_call_seconds", Help: "Time from a copy's decision to its first CancelCopyImage call.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}),
		Paused: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "paused", Help: "1 while the pause switch is on."}),
	}
	m.CircuitOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "circuit_open",
		Help: "1 while the region's circuit breaker is open (credential errors): no calls, cancels held."}, []string{"region"})
	m.Reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reconcile_total",
		Help: "DescribeImages reconciles of a region, by result: ok, error, or skipped (another replica holds the lease)."}, []string{"region", "result"})
	m.ReconcileSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "reconcile_seconds",
		Help: "Time to list a region (retries included) and apply the listing.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}, []string{"region"})
	if reg != nil {
		reg.MustRegister(m.Reconciles, m.ReconcileSeconds, m.CircuitOpen)
		reg.MustRegister(m.Rechecks)
		reg.MustRegister(m.Triggers, m.Rejected, m.Decisions, m.Results, m.CancelCalls, m.Retries,
			m.EvalErrors, m.DecideSeconds, m.CallSeconds, m.ToCallSeconds, m.Paused)
	}
	return m
}
