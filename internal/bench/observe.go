package bench

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecssim"
)

// cancelSpy stands in front of the simulator. It takes the time a
// CancelCopyImage request arrives, before the simulator reads or answers
// it, and notes which answers were Throttling, so the bench can tell a
// retry after throttling from a second cancel of the same copy.
type cancelSpy struct {
	next http.Handler

	mu        sync.Mutex
	first     map[string]time.Time      // image id → first request
	waiters   map[string]chan time.Time // image id → who waits for its first request
	answered  map[string]int            // image id → requests not throttled
	regions   map[string]*[2]time.Time  // region → first and last request
	throttled int
	calls     int
}

func newCancelSpy(next http.Handler) *cancelSpy {
	return &cancelSpy{next: next, first: map[string]time.Time{}, waiters: map[string]chan time.Time{},
		answered: map[string]int{}, regions: map[string]*[2]time.Time{}}
}

func (s *cancelSpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	q := r.URL.Query()
	action := q.Get("Action")
	if action == "" {
		action = r.Header.Get("x-acs-action")
	}
	if action != "CancelCopyImage" {
		s.next.ServeHTTP(w, r)
		return
	}
	id, region := q.Get("ImageId"), q.Get("RegionId")
	s.mu.Lock()
	if _, seen := s.first[id]; !seen {
		s.first[id] = at
		if ch, ok := s.waiters[id]; ok {
			ch <- at
			delete(s.waiters, id)
		}
	}
	span := s.regions[region]
	if span == nil {
		span = &[2]time.Time{at, at}
		s.regions[region] = span
	}
	span[1] = at
	s.mu.Unlock()

	sn := &throttleSniffer{ResponseWriter: w}
	s.next.ServeHTTP(sn, r)
	s.mu.Lock()
	s.calls++
	if sn.throttled() {
		s.throttled++
	} else {
		s.answered[id]++
	}
	s.mu.Unlock()
}

// expect returns a channel that receives the arrival time of the first
// CancelCopyImage request for id.
func (s *cancelSpy) expect(id string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, seen := s.first[id]; seen {
		ch <- at
	} else {
		s.waiters[id] = ch
	}
	return ch
}

// spyCounts is what the spy saw.
type spyCounts struct {
	calls, throttled int
	duplicates       int // copies with more than one request that was not throttled
	retried          int // copies with a throttled request and then one more
	regions          map[string][2]time.Time
}

func (s *cancelSpy) counts(sim *ecssim.Server) spyCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := spyCounts{calls: s.calls, throttled: s.throttled, regions: map[string][2]time.Time{}}
	for id, n := range s.answered {
		if n > 1 {
			c.duplicates++
		}
		if sim.Calls("CancelCopyImage", id) > n && n > 0 {
			c.retried++
		}
	}
	for r, span := range s.regions {
		c.regions[r] = *span
	}
	return c
}

// throttleSniffer keeps the status and the start of the body, enough to
// see the Throttling code.
type throttleSniffer struct {
	http.ResponseWriter
	status int
	head   []byte
}

func (t *throttleSniffer) WriteHeader(code int) {
	t.status = code
	t.ResponseWriter.WriteHeader(code)
}

func (t *throttleSniffer) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if len(t.head) < 512 {
		t.head = append(t.head, b[:min(len(b), 512-len(t.head))]...)
	}
	return t.ResponseWriter.Write(b)
}

func (t *throttleSniffer) throttled() bool {
	return t.status == http.StatusBadRequest && bytes.Contains(t.head, []byte(`"Throttling`))
}

// observer follows the decisions and results the worker publishes,
// on plain subscriptions (cheaper than a JetStream consumer, and it sees
// each event as it is published). Redelivered publishes are counted once,
// by their Nats-Msg-Id.
type observer struct {
	subs    []*nats.Subscription
	changed chan struct{}

	mu          sync.Mutex
	decisionIDs map[string]struct{}
	lastDecided time.Time
	results     map[string]string // region/image_id → first outcome
	lastResult  time.Time
}

func observe(nc *nats.Conn, names bus.Names) (*observer, error) {
	o := &observer{changed: make(chan struct{}, 1), decisionIDs: map[string]struct{}{}, results: map[string]string{}}
	sub, err := nc.Subscribe(names.DecisionSubject(), func(m *nats.Msg) {
		at := time.Now()
		o.mu.Lock()
		if _, dup := o.decisionIDs[m.Header.Get(jetstream.MsgIDHeader)]; !dup {
			o.decisionIDs[m.Header.Get(jetstream.MsgIDHeader)] = struct{}{}
			o.lastDecided = at
		}
		o.mu.Unlock()
		o.poke()
	})
	if err != nil {
		return nil, err
	}
	o.subs = append(o.subs, sub)
	sub, err = nc.Subscribe(names.ResultSubject(">"), func(m *nats.Msg) {
		at := time.Now()
		var ev struct {
			Subject string `json:"subject"`
			Data    struct {
				Outcome string `json:"outcome"`
			} `json:"data"`
		}
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		o.mu.Lock()
		if _, dup := o.results[ev.Subject]; !dup {
			o.results[ev.Subject] = ev.Data.Outcome
			o.lastResult = at
		}
		o.mu.Unlock()
		o.poke()
	})
	if err != nil {
		o.stop()
		return nil, err
	}
	o.subs = append(o.subs, sub)
	// Large pending limits: the empty-trigger scenario sends tens of
	// thousands of decisions at once, and a dropped one would never count.
	for _, s := range o.subs {
		_ = s.SetPendingLimits(-1, -1)
	}
	return o, nil
}

func (o *observer) poke() {
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

func (o *observer) stop() {
	for _, s := range o.subs {
		_ = s.Unsubscribe()
	}
}

func (o *observer) decisions() (int, time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.decisionIDs), o.lastDecided
}

func (o *observer) resultCount() (int, time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.results), o.lastResult
}

func (o *observer) outcome(c cloud.Copy) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out, ok := o.results[c.Region+"/"+c.ImageID]
	return out, ok
}

// outcomes counts the results by outcome.
func (o *observer) outcomes() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := map[string]int{}
	for _, out := range o.results {
		n[out]++
	}
	return n
}
