package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/internal/natstest"
)

// connect starts a server and returns a JetStream context on it.
func connect(t *testing.T) (*natstest.Server, jetstream.JetStream) {
	t.Helper()
	s := natstest.Start(t)
	return s, dial(t, s)
}

// dial opens one more connection to s, closed at cleanup.
func dial(t *testing.T, s *natstest.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// setup creates the topology for prefix with cfg (zero: the default).
func setup(t *testing.T, js jetstream.JetStream, prefix string, cfg *bus.TopologyConfig) *bus.Topology {
	t.Helper()
	c := bus.DefaultTopology()
	if cfg != nil {
		c = *cfg
	}
	topo, err := bus.Setup(ctxT(t), js, bus.NamesFor(prefix), c)
	if err != nil {
		t.Fatalf("setup %s: %v", prefix, err)
	}
	return topo
}

// ctxT is a context that ends with the test, bounded to 20s.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// streamMsgs is the number of messages a stream holds.
func streamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
