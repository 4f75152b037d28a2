package bus_test

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestClusterConfig keeps the sample cluster configuration the README
// points at loadable by nats-server itself.
func TestClusterConfig(t *testing.T) {
	t.Setenv("NATS_SERVER_NAME", "nats-2")
	opts, err := server.ProcessConfigFile("../deploy/nats/cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ServerName != "nats-2" || !opts.JetStream || opts.Cluster.Name != "copyguard" || len(opts.Routes) != 3 {
		t.Errorf("server %q jetstream %v cluster %q routes %d; want nats-2, true, copyguard, 3",
			opts.ServerName, opts.JetStream, opts.Cluster.Name, len(opts.Routes))
	}
}
