// Package natstest runs a real nats-server with JetStream inside a test:
// random port on 127.0.0.1, store in a temp dir, shut down at cleanup.
// It imports bus (for the embedded server), so only tests of adapters and
// wiring may use it; core tests that need to poll use internal/waitfor.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/internal/waitfor"
)

// WaitFor polls cond every 10ms until it holds, and fails the test naming
// what if that takes longer than timeout. It is waitfor.Cond, here so that
// tests already using natstest need no second import.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	waitfor.Cond(t, what, timeout, cond)
}

// Server is a running test server.
type Server struct {
	*server.Server
	StoreDir string
	t        testing.TB
}

// Start starts a JetStream server on a random loopback port.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartAt(t, t.TempDir(), -1)
}

// StartAt starts a server with the given store and port (-1 = random), so
// a test can stop a server and start another on the same store and port.
func StartAt(t testing.TB, storeDir string, port int) *Server {
	t.Helper()
	s, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: storeDir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	ts := &Server{Server: s, StoreDir: storeDir, t: t}
	t.Cleanup(ts.Stop)
	return ts
}

// Stop shuts the server down and waits for it; calling it twice is fine.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

// Port returns the port the server listens on.
func (s *Server) Port() int {
	return s.Addr().(*net.TCPAddr).Port
}

// StartWith starts a JetStream server on a random loopback port with
// options changed by edit: authentication, TLS, permissions.
func StartWith(t testing.TB, edit func(*server.Options)) *Server {
	t.Helper()
	dir := t.TempDir()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true}
	edit(opts)
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats server not ready after 10s")
	}
	ts := &Server{Server: s, StoreDir: dir, t: t}
	t.Cleanup(ts.Stop)
	return ts
}

// FreePorts reserves n loopback ports and releases them for the servers.
// Another process could take one in between; on a test machine that is
// rare enough, and the start then fails loudly rather than flaking.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}
