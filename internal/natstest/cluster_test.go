package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestCluster: three nodes form a JetStream cluster that holds an R3
// stream; stopping the stream's leader elects another, a publish gets
// through again, and the stopped node comes back on its ports and store.
func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	leader := c.StreamLeader(ctx, js, "T")
	if leader < 0 {
		t.Fatal("stream T has no leader")
	}
	c.StopNode(leader)
	c.WaitLeader(30 * time.Second)
	WaitFor(t, "a new leader of T", 30*time.Second, func() bool {
		i := c.StreamLeader(ctx, js, "T")
		return i >= 0 && i != leader
	})
	if _, err := js.Publish(ctx, "t.2", []byte("y")); err != nil {
		t.Fatal(err)
	}
	c.StartNode(leader)
	WaitFor(t, "the restarted node to catch up", 30*time.Second, func() bool {
		info, err := s.Info(ctx)
		if err != nil || info.State.Msgs != 2 {
			return false
		}
		current := 0
		for _, p := range info.Cluster.Replicas {
			if p.Current {
				current++
			}
		}
		return current == 2
	})
}
