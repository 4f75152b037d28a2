package natstest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a JetStream cluster of in-process nats-servers on loopback,
// for the fleet tests: R3 streams, leader elections, a lost node.
type Cluster struct {
	Nodes []*Node
	name  string
	t     testing.TB
}

// Node is one member of a Cluster. Its ports and store stay the same when
// it is stopped and started again, as a restarted pod's would.
type Node struct {
	*server.Server // nil while stopped
	Name           string
	Port           int
	ClusterPort    int
	StoreDir       string
	routes         string
	clusterName    string
}

// StartCluster starts n nodes that route to each other and waits until
// JetStream has a meta leader.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{name: fmt.Sprintf("cg-test-%d", time.Now().UnixNano()%1e6), t: t}
	ports := FreePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	for i := range n {
		c.Nodes = append(c.Nodes, &Node{
			Name: fmt.Sprintf("n%d", i+1), Port: ports[i], ClusterPort: ports[n+i],
			StoreDir: t.TempDir(), routes: strings.Join(routes, ","), clusterName: c.name,
		})
	}
	t.Cleanup(c.Stop)
	// Start every node before waiting on any: a node waits for its routes.
	errs := make(chan error, n)
	for _, nd := range c.Nodes {
		go func() { errs <- nd.start() }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c.WaitLeader(30 * time.Second)
	// A leader alone is not enough: placing an R3 stream needs every peer
	// known to be online with JetStream, or it fails "peer offline".
	WaitFor(t, fmt.Sprintf("the meta leader to see %d JetStream peers", n), 30*time.Second, func() bool {
		for _, nd := range c.Nodes {
			if nd.Server != nil && nd.Server.JetStreamIsLeader() {
				return len(nd.Server.JetStreamClusterPeers()) == n
			}
		}
		return false
	})
	return c
}

func (nd *Node) start() error {
	opts := &server.Options{
		ServerName: nd.Name, Host: "127.0.0.1", Port: nd.Port,
		JetStream: true, StoreDir: nd.StoreDir, NoSigs: true, NoLog: true,
		Cluster: server.ClusterOpts{Name: nd.clusterName, Host: "127.0.0.1", Port: nd.ClusterPort},
		Routes:  server.RoutesFromStr(nd.routes),
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("node %s: %w", nd.Name, err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("node %s: not ready after 20s", nd.Name)
	}
	nd.Server = s
	return nil
}

// URL is the client URL of every node, comma-separated, as a worker would
// be given it.
func (c *Cluster) URL() string {
	var urls []string
	for _, nd := range c.Nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", nd.Port))
	}
	return strings.Join(urls, ",")
}

// WaitLeader waits until a running node sees a JetStream meta leader.
func (c *Cluster) WaitLeader(timeout time.Duration) {
	c.t.Helper()
	WaitFor(c.t, "jetstream meta leader", timeout, func() bool {
		for _, nd := range c.Nodes {
			if nd.Server != nil && nd.Server.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
}

// StopNode shuts node i down (as a lost node: its clients see the
// connection drop); StartNode brings it back on the same ports and store.
func (c *Cluster) StopNode(i int) {
	nd := c.Nodes[i]
	if nd.Server == nil {
		return
	}
	nd.Server.Shutdown()
	nd.Server.WaitForShutdown()
	nd.Server = nil
}

// StartNode starts a stopped node again.
func (c *Cluster) StartNode(i int) {
	c.t.Helper()
	if err := c.Nodes[i].start(); err != nil {
		c.t.Fatal(err)
	}
}

// Stop shuts every node down.
func (c *Cluster) Stop() {
	for i := range c.Nodes {
		c.StopNode(i)
	}
}

// StreamLeader returns the index of the node that leads stream name, or
// -1 while it has none (an election) or the stream cannot be read. Each
// request gets 2 s: one sent while the client reconnects would otherwise
// wait as long as ctx.
func (c *Cluster) StreamLeader(ctx context.Context, js jetstream.JetStream, name string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		return -1
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return -1
	}
	for i, nd := range c.Nodes {
		if nd.Name == info.Cluster.Leader {
			return i
		}
	}
	return -1
}
