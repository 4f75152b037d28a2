package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/worker"
)

// The adapter must satisfy the worker's port.
var _ worker.KV = bus.KV{}

func TestKVErrors(t *testing.T) {
	t.Parallel()
	_, js := connect(t)
	topo := setup(t, js, "copyguard", nil)
	kv := bus.KV{B: topo.Claims}
	ctx := ctxT(t)

	rev, err := kv.Create(ctx, "cn-hangzhou.m-1", []byte("v1"), 0)
	if err != nil || rev == 0 {
		t.Fatalf("Create = %d, %v", rev, err)
	}
	t.Run("create twice", func(t *testing.T) {
		if _, err := kv.Create(ctx, "cn-hangzhou.m-1", []byte("again"), 0); !errors.Is(err, worker.ErrExists) {
			t.Errorf("second Create = %v, want worker.ErrExists", err)
		}
	})
	t.Run("get", func(t *testing.T) {
		val, got, err := kv.Get(ctx, "cn-hangzhou.m-1")
		if err != nil || string(val) != "v1" || got != rev {
			t.Errorf("Get = %q, %d, %v; want v1, %d", val, got, err, rev)
		}
	})
	t.Run("get missing", func(t *testing.T) {
		if _, _, err := kv.Get(ctx, "cn-hangzhou.m-none"); !errors.Is(err, worker.ErrNotFound) {
			t.Errorf("Get = %v, want worker.ErrNotFound", err)
		}
	})
	t.Run("update at the current revision, then a stale one", func(t *testing.T) {
		rev2, err := kv.Update(ctx, "cn-hangzhou.m-1", []byte("v2"), rev)
		if err != nil || rev2 <= rev {
			t.Fatalf("Update = %d, %v", rev2, err)
		}
		if _, err := kv.Update(ctx, "cn-hangzhou.m-1", []byte("v3"), rev); !errors.Is(err, worker.ErrConflict) {
			t.Errorf("stale Update = %v, want worker.ErrConflict", err)
		}
		if val, _, _ := kv.Get(ctx, "cn-hangzhou.m-1"); string(val) != "v2" {
			t.Errorf("value after a refused update = %q, want v2", val)
		}
	})
	t.Run("update a missing key", func(t *testing.T) {
		if _, err := kv.Update(ctx, "cn-hangzhou.m-none", []byte("x"), 1); !errors.Is(err, worker.ErrConflict) {
			t.Errorf("Update = %v, want worker.ErrConflict", err)
		}
	})
	t.Run("delete then get, then create again", func(t *testing.T) {
		if err := kv.Delete(ctx, "cn-hangzhou.m-1"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := kv.Get(ctx, "cn-hangzhou.m-1"); !errors.Is(err, worker.ErrNotFound) {
			t.Errorf("Get after Delete = %v, want worker.ErrNotFound", err)
		}
		// A released claim can be taken again.
		if _, err := kv.Create(ctx, "cn-hangzhou.m-1", []byte("v4"), 0); err != nil {
			t.Errorf("Create after Delete = %v", err)
		}
	})
	t.Run("delete a missing key", func(t *testing.T) {
		if err := kv.Delete(ctx, "cn-hangzhou.m-never"); err != nil && !errors.Is(err, worker.ErrNotFound) {
			t.Errorf("Delete = %v, want nil or worker.ErrNotFound", err)
		}
	})
	t.Run("put", func(t *testing.T) {
		r1, err := kv.Put(ctx, "cn-hangzhou.m-2", []byte("a"))
		if err != nil {
			t.Fatal(err)
		}
		r2, err := kv.Put(ctx, "cn-hangzhou.m-2", []byte("b"))
		if err != nil || r2 <= r1 {
			t.Errorf("second Put = %d, %v after %d", r2, err, r1)
		}
	})
	t.Run("a per-key ttl needs a bucket with limit markers", func(t *testing.T) {
		_, err := kv.Create(ctx, "cn-hangzhou.m-3", []byte("x"), time.Second)
		if err == nil || errors.Is(err, worker.ErrExists) {
			t.Errorf("Create with ttl on the claims bucket = %v, want a plain error", err)
		}
	})
}

// watched is one call of Watch's apply.
type watched struct {
	key, val string
	deleted  bool
}

type recorder struct {
	mu  sync.Mutex
	got []watched
}

func (r *recorder) apply(key string, val []byte, deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, watched{key, string(val), deleted})
}

func (r *recorder) all() []watched {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// watch runs bus.Watch until the test ends and returns its recorder and
// ready channel; the returned stop ends it and reports what it returned.
func watch(t *testing.T, ctx context.Context, run func(ctx context.Context, apply func(string, []byte, bool), ready chan<- struct{}) error) (*recorder, <-chan struct{}, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	rec := &recorder{}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- run(ctx, rec.apply, ready) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return errors.New("Watch did not return after its context ended")
		}
	})
	t.Cleanup(func() { _ = stop() })
	return rec, ready, stop
}

func waitReady(t *testing.T, ready <-chan struct{}) {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("ready was not closed")
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	_, js := connect(t)
	topo := setup(t, js, "copyguard", nil)
	ctx := ctxT(t)
	b := topo.Copies
	for i, v := range []string{"a", "b"} {
		if _, err := b.Put(ctx, fmt.Sprintf("cn-hangzhou.m-%d", i), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, "cn-hangzhou.m-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "cn-hangzhou.m-2", []byte("c")); err != nil {
		t.Fatal(err)
	}
	rec, ready, stop := watch(t, ctx, func(ctx context.Context, apply func(string, []byte, bool), ready chan<- struct{}) error {
		return bus.Watch(ctx, b, apply, ready)
	})

	waitReady(t, ready)
	// The latest state of each key, deletes included, before ready.
	initial := []watched{{"cn-hangzhou.m-0", "a", false}, {"cn-hangzhou.m-1", "", true}, {"cn-hangzhou.m-2", "c", false}}
	if got := rec.all(); !slices.Equal(got, initial) {
		t.Fatalf("before ready: %+v, want %+v", got, initial)
	}

	if _, err := b.Put(ctx, "cn-hangzhou.m-0", []byte("a2")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "cn-hangzhou.m-2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Purge(ctx, "cn-hangzhou.m-3"); err != nil {
		t.Fatal(err)
	}
	want := append(initial, watched{"cn-hangzhou.m-0", "a2", false}, watched{"cn-hangzhou.m-2", "", true}, watched{"cn-hangzhou.m-3", "", true})
	natstest.WaitFor(t, "updates and deletes", 5*time.Second, func() bool { return len(rec.all()) >= len(want) })
	if got := rec.all(); !slices.Equal(got, want) {
		t.Errorf("watched %+v, want %+v", got, want)
	}
	if err := stop(); err != nil {
		t.Errorf("Watch returned %v after its context ended, want nil", err)
	}
}

func TestWatchEmptyBucket(t *testing.T) {
	t.Parallel()
	_, js := connect(t)
	topo := setup(t, js, "copyguard", nil)
	rec, ready, _ := watch(t, ctxT(t), func(ctx context.Context, apply func(string, []byte, bool), ready chan<- struct{}) error {
		return bus.Watch(ctx, topo.Control, apply, ready)
	})
	waitReady(t, ready)
	if got := rec.all(); len(got) != 0 {
		t.Errorf("an empty bucket applied %+v", got)
	}
}

// TestConditionTTL checks that a condition created with a TTL expires on
// its own, and that the mirror (Watch) is told.
func TestConditionTTL(t *testing.T) {
	t.Parallel()
	_, js := connect(t)
	topo := setup(t, js, "copyguard", nil)
	ctx := ctxT(t)
	kv := bus.KV{B: topo.Conditions}
	rec, ready, _ := watch(t, ctx, func(ctx context.Context, apply func(string, []byte, bool), ready chan<- struct{}) error {
		return bus.Watch(ctx, topo.Conditions, apply, ready)
	})
	waitReady(t, ready)

	if _, err := kv.Create(ctx, "quarantine-1", []byte("cond"), time.Second); err != nil {
		t.Fatalf("Create with ttl: %v", err)
	}
	if _, _, err := kv.Get(ctx, "quarantine-1"); err != nil {
		t.Fatalf("Get right after Create: %v", err)
	}
	natstest.WaitFor(t, "the condition to expire", 10*time.Second, func() bool {
		_, _, err := kv.Get(ctx, "quarantine-1")
		return errors.Is(err, worker.ErrNotFound)
	})
	want := []watched{{"quarantine-1", "cond", false}, {"quarantine-1", "", true}}
	natstest.WaitFor(t, "the watcher to see the expiry", 5*time.Second, func() bool { return len(rec.all()) >= 2 })
	if got := rec.all(); !slices.Equal(got, want) {
		t.Errorf("watched %+v, want %+v", got, want)
	}
	// An expired condition can be recorded again.
	if _, err := kv.Create(ctx, "quarantine-1", []byte("cond"), time.Minute); err != nil {
		t.Errorf("Create after expiry: %v", err)
	}
}
