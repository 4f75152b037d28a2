package worker

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// probeFunc is the call that proves access to a region: Config.Prober,
// else a full listing; nil without either.
func (w *Worker) probeFunc() func(context.Context, string) error {
	cfg := w.actor.cfg
	switch {
	case cfg.Prober != nil:
		return cfg.Prober.Probe
	case cfg.Lister != nil:
		return func(ctx context.Context, region string) error {
			_, err := cfg.Lister.ListCopies(ctx, region)
			return err
		}
	}
	return nil
}

// probe makes one probe of region and tells health and the breaker.
func (w *Worker) probe(ctx context.Context, region string) error {
	b := w.actor.base
	pctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	err := w.probeFunc()(pctx, region)
	b.health.record(apiDescribe, region, err, b.cfg.Now())
	if rerr := b.breakers.get(region).record(ctx, err); rerr != nil {
		b.log.Warn("update the region's circuit breaker", zap.String("region", region), zap.Error(rerr))
	}
	return err
}

// RegionError is one region's failed cloud access check.
type RegionError struct {
	Region string
	Err    error
}

func (e RegionError) Error() string { return fmt.Sprintf("cloud access in %s: %v", e.Region, e.Err) }

// CheckCloud makes one probe (DescribeImages, PageSize=1) per configured
// region and returns the regions where it failed. The answers feed
// readiness and the circuit breakers, so a bad key shows in /readyz at
// once. No Prober and no Lister: nothing to check.
func (w *Worker) CheckCloud(ctx context.Context) []RegionError {
	if w.probeFunc() == nil {
		return nil
	}
	var out []RegionError
	for _, r := range w.actor.cfg.Regions {
		if err := w.probe(ctx, r); err != nil {
			out = append(out, RegionError{Region: r, Err: err})
		}
	}
	return out
}

// RunBreakers probes every open circuit when its probe is due (one
// replica per probe), until ctx ends: a probe that the API answers closes
// the circuit for the fleet, and the held cancels run.
func (w *Worker) RunBreakers(ctx context.Context) {
	if w.probeFunc() == nil {
		return
	}
	w.actor.breakers.run(ctx, w.probe)
}

// CircuitOpen reports whether region's circuit is open as this replica
// last read it, and the code that opened it. No I/O.
func (w *Worker) CircuitOpen(region string) (bool, string) {
	s, ok := w.actor.breakers.get(region).peek()
	return ok && s.Open, s.Code
}

// circuitView adds each region's breaker to its health.
func (w *Worker) circuitView(rs []RegionHealth) []RegionHealth {
	for i := range rs {
		if open, code := w.CircuitOpen(rs[i].Region); open {
			rs[i].OK, rs[i].CircuitOpen = false, true
			rs[i].LastError = "circuit open: " + code
		}
	}
	return rs
}
