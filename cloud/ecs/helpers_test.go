package ecs_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/internal/waitfor"
)

// The tests talk only to httptest servers on 127.0.0.1. The client's
// transport uses the standard proxy settings, which never proxy loopback,
// so HTTP_PROXY in the environment cannot send them elsewhere.

const (
	testAK     = "LTAItestkey"
	testSecret = "test-secret-Zx9/+q"
	region     = "cn-hangzhou"
	otherReg   = "cn-shanghai"
)

// clock is a settable clock for the simulator. It starts at the real time
// because the simulator checks the SDK's request Timestamp against it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

type env struct {
	sim   *ecssim.Server
	srv   *httptest.Server
	c     *ecs.Client
	cfg   ecs.Config
	clock *clock
}

// newEnv starts a simulator and a client on it. mod, if not nil, changes
// the client's config before New.
func newEnv(t *testing.T, mod func(*ecs.Config)) *env {
	t.Helper()
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	sim := ecssim.New(ecssim.Config{
		Keys:    map[string]string{testAK: testSecret},
		Regions: []string{region, otherReg},
		Now:     clk.Now,
		Seed:    1,
	})
	srv := httptest.NewServer(sim)
	cfg := ecs.Config{
		Endpoint:        srv.Listener.Addr().String(),
		Insecure:        true,
		AccessKeyID:     testAK,
		AccessKeySecret: testSecret,
		// Generous: the machine may be busy (2 cores shared with other
		// test runs); tests about timing set their own.
		ConnectTimeout: 5 * time.Second,
		ReadTimeout:    10 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := ecs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return &env{sim: sim, srv: srv, c: c, cfg: cfg, clock: clk}
}

// Image seeds, relative to the simulator clock.

func (e *env) waiting(reg string) string {
	return e.sim.AddImage(ecssim.Image{Region: reg, IsCopied: true, SourceImageID: "m-src", SourceRegion: otherReg,
		Created: e.clock.Now(), WaitFor: time.Hour, CopyTime: time.Hour})
}

// creating is a copy 25% through Creating.
func (e *env) creating(reg string) string {
	return e.sim.AddImage(ecssim.Image{Region: reg, IsCopied: true, SourceImageID: "m-src", SourceRegion: otherReg,
		Created: e.clock.Now().Add(-time.Hour), WaitFor: 30 * time.Minute, CopyTime: 2 * time.Hour})
}

func (e *env) fixed(reg, status string, copied bool) string {
	return e.sim.AddImage(ecssim.Image{Region: reg, IsCopied: copied, Status: status})
}

func classOf(err error) string {
	c, o := cloud.Classify(err)
	if o != "" {
		return c.String() + "/" + string(o)
	}
	return c.String()
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitGoroutines polls until the goroutine count is back to baseline,
// closing idle connections on each round (their read and write loops are
// goroutines too), and returns how long that took.
func waitGoroutines(t *testing.T, e *env, baseline int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitfor.Cond(t, "goroutines back to baseline", timeout, func() bool {
		e.c.Close()
		return runtime.NumGoroutine() <= baseline
	})
	return time.Since(start)
}

// baseline settles idle connections and returns the goroutine count.
func baseline(e *env) int {
	e.c.Close()
	e.srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	return runtime.NumGoroutine()
}

func isTransport(err error) (te *cloud.TransportError, ok bool) {
	ok = errors.As(err, &te)
	return te, ok
}
