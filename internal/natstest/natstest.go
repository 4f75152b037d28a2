// Package natstest runs a real nats-server with JetStream inside a test:
// random port on 127.0.0.1, store in a temp dir, shut down at cleanup.
package natstest

import (
	"net"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/copyguard/copyguard/bus"
)

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
