package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// testPolicies is the policy set every worker test runs: a budget policy,
// a quarantine that stays in force for an hour until region.released, and
// a protect policy that vetoes both.
const testPolicies = `
policies:
  - name: budget
    on: [budget.exceeded]
    when: trigger.data.percent >= 100.0
    match: copy.tags["cost-center"] == trigger.data.scope.tags["cost-center"]
    action: cancel

  - name: quarantine
    on: [region.quarantined]
    match: copy.region == trigger.data.region
    action: cancel
    active_for: 1h
    released_by: region.released

  - name: golden
    on: ["*"]
    match: '"protect" in copy.tags && copy.tags["protect"] == "true"'
    action: protect
`

// memKV is a map-backed KV with JetStream's semantics: one revision
// counter per bucket, Create only on a missing key, Update only at the
// current revision. fail, if set, can make any operation fail.
type memKV struct {
	mu      sync.Mutex
	rev     uint64
	entries map[string]memEntry
	fail    func(op, key string) error
}

type memEntry struct {
	val []byte
	rev uint64
	ttl time.Duration
}

func newMemKV() *memKV { return &memKV{entries: map[string]memEntry{}} }

func (k *memKV) injected(op, key string) error {
	if k.fail == nil {
		return nil
	}
	return k.fail(op, key)
}

func (k *memKV) Create(_ context.Context, key string, val []byte, ttl time.Duration) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("create", key); err != nil {
		return 0, err
	}
	if _, ok := k.entries[key]; ok {
		return 0, ErrExists
	}
	k.rev++
	k.entries[key] = memEntry{val: slices.Clone(val), rev: k.rev, ttl: ttl}
	return k.rev, nil
}

func (k *memKV) Get(_ context.Context, key string) ([]byte, uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("get", key); err != nil {
		return nil, 0, err
	}
	e, ok := k.entries[key]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return slices.Clone(e.val), e.rev, nil
}

func (k *memKV) Update(_ context.Context, key string, val []byte, rev uint64) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("update", key); err != nil {
		return 0, err
	}
	e, ok := k.entries[key]
	if !ok || e.rev != rev {
		return 0, ErrConflict
	}
	k.rev++
	// Like JetStream, an update drops the per-key TTL.
	k.entries[key] = memEntry{val: slices.Clone(val), rev: k.rev}
	return k.rev, nil
}

func (k *memKV) Put(_ context.Context, key string, val []byte) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("put", key); err != nil {
		return 0, err
	}
	k.rev++
	k.entries[key] = memEntry{val: slices.Clone(val), rev: k.rev}
	return k.rev, nil
}

func (k *memKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.injected("delete", key); err != nil {
		return err
	}
	// JetStream writes a delete marker whether or not the key exists.
	delete(k.entries, key)
	return nil
}

func (k *memKV) keys() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Sorted(maps.Keys(k.entries))
}

// copyKeys is keys without the trigger id records (triggerIDKey) the
// claims bucket also holds: the copies' claims.
func (k *memKV) copyKeys() []string {
	return slices.DeleteFunc(k.keys(), func(key string) bool { return strings.HasPrefix(key, "trigger.") })
}

func (k *memKV) entry(key string) (memEntry, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.entries[key]
	return e, ok
}

// published is one message a recPublisher was asked to publish.
type published struct {
	Subject, MsgID string
	Body           []byte
}

// recPublisher records every publish, duplicates included, so a test can
// tell a double publish from a single one. fail, if set, can refuse one.
type recPublisher struct {
	mu   sync.Mutex
	msgs []published
	fail func(subject, msgID string) error
}

func (p *recPublisher) Publish(_ context.Context, subject, msgID string, body []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		if err := p.fail(subject, msgID); err != nil {
			return err
		}
	}
	p.msgs = append(p.msgs, published{subject, msgID, slices.Clone(body)})
	return nil
}

func (p *recPublisher) all() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs)
}

// with returns the messages whose subject starts with prefix.
func (p *recPublisher) with(prefix string) []published {
	var out []published
	for _, m := range p.all() {
		if strings.HasPrefix(m.Subject, prefix) {
			out = append(out, m)
		}
	}
	return out
}

func (p *recPublisher) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = nil
}

// fakeClock is Config.Now under the test's control.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// script is a Canceller that answers each call with the next error of its
// list (the last one repeats) and counts the calls.
type script struct {
	mu    sync.Mutex
	errs  []error
	calls []string // "region/image"
}

func (s *script) canceller() Canceller {
	return CancellerFunc(func(_ context.Context, region, imageID string) (string, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := len(s.calls)
		s.calls = append(s.calls, region+"/"+imageID)
		var err error
		if len(s.errs) > 0 {
			err = s.errs[min(n, len(s.errs)-1)]
		}
		return fmt.Sprintf("req-%d", n+1), err
	})
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// rig is a worker wired to fakes.
type rig struct {
	w                          *Worker
	claims, copies, conditions *memKV
	limits                     *memKV
	pub                        *recPublisher
	clock                      *fakeClock
	calls                      *script
}

// newRig builds a worker on fakes; adjust may change the config first.
func newRig(t *testing.T, adjust ...func(*rig, *Config)) *rig {
	t.Helper()
	set, err := policy.Parse("test.yaml", []byte(testPolicies))
	if err != nil {
		t.Fatalf("parse policies: %v", err)
	}
	r := &rig{
		claims: newMemKV(), copies: newMemKV(), conditions: newMemKV(), limits: newMemKV(),
		pub: &recPublisher{}, clock: newFakeClock(), calls: &script{},
	}
	cfg := Config{
		Policies: set, Canceller: r.calls.canceller(), Publisher: r.pub,
		Claims: r.claims, Copies: r.copies, Conditions: r.conditions, Limits: r.limits,
		Instance: "test-1", Regions: []string{"cn-hangzhou"},
		// Fast enough that no test waits on the limiter or the backoff.
		QPS: 1000, Burst: 100,
		Retry: RetryPolicy{MaxAttempts: 5, MaxElapsed: time.Minute, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond},
		Now:   r.clock.Now,
	}
	for _, f := range adjust {
		f(r, &cfg)
	}
	if r.w, err = New(cfg); err != nil {
		t.Fatalf("new worker: %v", err)
	}
	return r
}

var testCtx = context.Background()

// inflight returns a copy being made in region with the given tags.
func inflight(region, id string, tags map[string]string) cloud.Copy {
	return cloud.Copy{
		ImageID: id, Region: region, SourceRegion: "cn-beijing", SourceImageID: "m-src0001",
		Status: cloud.StatusCreating, Progress: 10, Tags: tags,
		StartedAt: time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC),
	}
}

// triggerMsg encodes a trigger as a producer would publish it.
func triggerMsg(t *testing.T, typ, id string, data map[string]any) Msg {
	t.Helper()
	ev, err := event.New(typ, "test", id, "", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), data)
	if err != nil {
		t.Fatal(err)
	}
	body, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return Msg{Subject: "copyguard.trigger." + typ, Data: body, Delivered: 1, InProgress: func() {}}
}

func budgetTrigger(t *testing.T, id, costCenter string) Msg {
	return triggerMsg(t, event.TypeBudgetExceeded, id, map[string]any{
		"budget": "team", "percent": 120.0, "scope": map[string]any{"tags": map[string]any{"cost-center": costCenter}},
	})
}

func refOf(id, typ string) event.TriggerRef {
	return event.TriggerRef{ID: id, Type: typ, Source: "test"}
}

// decodeEvent reads a published CloudEvent's data into v and returns the event.
func decodeEvent(t *testing.T, p published, v any) *event.Event {
	t.Helper()
	ev, err := event.Decode(p.Body, 0)
	if err != nil {
		t.Fatalf("published %s is not a valid event: %v", p.Subject, err)
	}
	if ev.ID != p.MsgID {
		t.Errorf("event id %q != msg id %q", ev.ID, p.MsgID)
	}
	if err := json.Unmarshal(ev.Data, v); err != nil {
		t.Fatalf("decode %s data: %v", p.Subject, err)
	}
	return ev
}

func (r *rig) results(t *testing.T) []event.Result {
	t.Helper()
	var out []event.Result
	for _, p := range r.pub.with("copyguard.result.") {
		var res event.Result
		decodeEvent(t, p, &res)
		if p.Subject != "copyguard.result."+res.Outcome {
			t.Errorf("result %s published on %s", res.Outcome, p.Subject)
		}
		out = append(out, res)
	}
	return out
}

func (r *rig) decision(t *testing.T) event.Decision {
	t.Helper()
	ds := r.pub.with("copyguard.decision")
	if len(ds) != 1 {
		t.Fatalf("published %d decisions, want 1", len(ds))
	}
	var d event.Decision
	decodeEvent(t, ds[0], &d)
	return d
}

func (r *rig) claim(t *testing.T, key string) (claim, bool) {
	t.Helper()
	e, ok := r.claims.entry(key)
	if !ok {
		return claim{}, false
	}
	var c claim
	if err := json.Unmarshal(e.val, &c); err != nil {
		t.Fatalf("claim %s: %v", key, err)
	}
	return c, true
}

// queue claims c for trigger ref the way HandleTrigger does and returns
// the job message it published.
func (r *rig) queue(t *testing.T, ref event.TriggerRef, c cloud.Copy) Msg {
	t.Helper()
	before := len(r.pub.with("copyguard.job."))
	d := policy.Decision{Copy: c, Action: policy.ActionCancel, Policies: []string{"budget"}}
	other, err := r.w.decider.claimAndQueue(testCtx, trig{ref: ref}, d, r.clock.Now())
	if err != nil || other != "" {
		t.Fatalf("claimAndQueue = %q, %v", other, err)
	}
	jobs := r.pub.with("copyguard.job.")
	if len(jobs) != before+1 {
		t.Fatalf("claimAndQueue published %d jobs, want 1", len(jobs)-before)
	}
	j := jobs[len(jobs)-1]
	return Msg{Subject: j.Subject, Data: j.Body, Delivered: 1, InProgress: func() {}}
}

// setClaim overwrites a claim, as another replica or an earlier delivery would.
func (r *rig) setClaim(t *testing.T, key string, f func(*claim)) uint64 {
	t.Helper()
	c, ok := r.claim(t, key)
	if !ok {
		t.Fatalf("no claim %s", key)
	}
	f(&c)
	val, _ := json.Marshal(c)
	rev, err := r.claims.Put(testCtx, key, val)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

var errBoom = errors.New("boom")
