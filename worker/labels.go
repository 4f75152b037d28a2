package worker

import (
	"slices"
	"sync"

	"github.com/copyguard/copyguard/policy"
)

// OtherLabel is the label value shared by every input-fed value beyond
// those a series may carry by name: Prometheus keeps a series per label
// value for the life of the process, so a label fed by input must stay
// a small set whatever the input.
const OtherLabel = "other"

// Caps on the label values taken from input besides the known ones.
// Regions besides --regions come from copy.started events (Alibaba Cloud
// has about thirty regions); error codes come from the API.
const (
	maxExtraRegions = 32
	maxErrorCodes   = 64
)

// labelCap admits the known values of a label, then the first max others
// seen, and maps the rest to OtherLabel.
type labelCap struct {
	mu    sync.Mutex
	known map[string]bool
	extra map[string]bool
	max   int
}

func newLabelCap(max int, known ...string) *labelCap {
	c := &labelCap{known: map[string]bool{}, extra: map[string]bool{}, max: max}
	for _, k := range known {
		c.known[k] = true
	}
	return c
}

func (c *labelCap) value(v string) string {
	if c.known[v] { // never written after newLabelCap
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.extra[v]:
		return v
	case len(c.extra) < c.max:
		c.extra[v] = true
		return v
	}
	return OtherLabel
}

// labels bounds the label values the worker's metrics take from input.
type labels struct {
	regions, codes *labelCap
}

func newLabels(regions []string) *labels {
	return &labels{regions: newLabelCap(maxExtraRegions, regions...), codes: newLabelCap(maxErrorCodes, "")}
}

func (l *labels) region(r string) string { return l.regions.value(r) }
func (l *labels) code(c string) string   { return l.codes.value(c) }

// triggerTypeLabel is the type label of copyguard_triggers_total: a
// built-in type, or one a loaded policy names in `on` or `released_by`;
// any other type (anyone who may publish a trigger can make up types)
// is OtherLabel.
func triggerTypeLabel(set *policy.Set, typ string) string {
	if slices.Contains(policy.BuiltinTypes(), typ) {
		return typ
	}
	if set != nil {
		for _, p := range set.Policies() {
			if p.ReleasedBy == typ || slices.Contains(p.On, typ) {
				return typ
			}
		}
	}
	return OtherLabel
}
