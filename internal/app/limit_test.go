package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copyguard/copyguard/internal/waitfor"
)

// serveLimited serves a handler behind a limitListener of the given cap
// and reports the most connections it held open at once.
func serveLimited(t *testing.T, limit int) (addr string, peak *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var open atomic.Int64
	peak = &atomic.Int64{}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				n := open.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		},
	}
	go srv.Serve(newLimitListener(ln, limit, srv))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), peak
}

// keepAlive makes one request on a new connection and leaves the
// connection open and idle.
func keepAlive(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c
}

// TestLimitListenerHoldsTheCap: connections that send nothing beyond the
// cap are not accepted while the others are open.
func TestLimitListenerHoldsTheCap(t *testing.T) {
	const limit = 4
	addr, peak := serveLimited(t, limit)
	for range 3 * limit {
		c, err := net.Dial("tcp", addr) // accepted by the kernel; waits for a slot
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	waitfor.Cond(t, "the cap's worth of connections held", 5*time.Second, func() bool { return peak.Load() >= limit })
	// Then some time for the server to take more than it should: a
	// negative can only be watched for, not waited on.
	time.Sleep(300 * time.Millisecond)
	if p := peak.Load(); p != limit {
		t.Errorf("server held %d connections at once, want the cap %d", p, limit)
	}
}

// TestLimitListenerIdleKeepAlivesDoNotStarve: with every slot held by an
// idle keep-alive connection, a new request is still answered at once
// (the idle connections are closed to make room), not after the idle
// timeout.
func TestLimitListenerIdleKeepAlivesDoNotStarve(t *testing.T) {
	const limit = 4
	addr, peak := serveLimited(t, limit)
	for range limit {
		keepAlive(t, addr)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 3 {
		start := time.Now()
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatalf("request %d with every slot idle: %v", i, err)
		}
		resp.Body.Close()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("request %d took %v", i, d)
		}
	}
	if p := peak.Load(); p > limit {
		t.Errorf("server held %d connections at once, cap %d", p, limit)
	}
}
