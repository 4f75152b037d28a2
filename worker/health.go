package worker

import (
	"sort"
	"sync"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// RegionHealth is what the worker last learnt about cloud access in one
// region: readiness reports it, and a permanent error (bad credentials,
// an unknown region) makes the worker not ready.
type RegionHealth struct {
	Region    string `json:"region"`
	OK        bool   `json:"ok"`
	Permanent bool   `json:"permanent,omitempty"` // the last error will not go away by itself
	LastError string `json:"last_error,omitempty"`
	API       string `json:"api,omitempty"` // the call that failed: cancel, describe
	// CircuitOpen: the fleet stopped calling the region after repeated
	// credential errors (breaker.go); LastError then says "circuit open:
	// <code>". Not ready until a probe closes it.
	CircuitOpen bool      `json:"circuit_open,omitempty"`
	At          time.Time `json:"at"`
}

// health keeps the last answer per region, for every configured region
// and every region a call went to.
type health struct {
	mu sync.Mutex // guards m
	m  map[string]RegionHealth
}

func newHealth(regions []string) *health {
	h := &health{m: map[string]RegionHealth{}}
	for _, r := range regions {
		h.m[r] = RegionHealth{Region: r, OK: true}
	}
	return h
}

// record notes the answer of one call. Throttling and other retryable
// errors say nothing about access, so only a success or a permanent error
// changes the state.
func (h *health) record(api, region string, err error, now time.Time) {
	class, _ := cloud.Classify(err)
	var rh RegionHealth
	switch class {
	case cloud.ClassNone, cloud.ClassOutcome:
		rh = RegionHealth{Region: region, OK: true, At: now}
	case cloud.ClassPermanent:
		rh = RegionHealth{Region: region, Permanent: true, LastError: err.Error(), API: api, At: now}
	default:
		return
	}
	h.mu.Lock()
	h.m[region] = rh
	h.mu.Unlock()
}

// all returns every region's state, sorted by region.
func (h *health) all() []RegionHealth {
	h.mu.Lock()
	out := make([]RegionHealth, 0, len(h.m))
	for _, rh := range h.m {
		out = append(out, rh)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Region < out[j].Region })
	return out
}
