package deploycheck_test

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestKubernetesNATSConfig loads the with-nats overlay's server
// configuration (and the auth.conf it includes) with nats-server's own
// parser, as a node of the StatefulSet would, and checks that it is a
// JetStream node of a 3-route cluster that refuses anonymous clients.
func TestKubernetesNATSConfig(t *testing.T) {
	t.Setenv("POD_NAME", "copyguard-nats-1")
	for _, role := range []string{"WORKER", "OPERATOR", "PUBLISHER", "PRODUCER", "WATCHER"} {
		t.Setenv("COPYGUARD_"+role+"_PASSWORD", "test-only-"+role)
	}
	opts, err := server.ProcessConfigFile("../../deploy/kubernetes/overlays/with-nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ServerName != "copyguard-nats-1" || !opts.JetStream || opts.StoreDir != "/data/jetstream" ||
		opts.Cluster.Name != "copyguard" || len(opts.Routes) != 3 {
		t.Errorf("server %q jetstream %v store %q cluster %q routes %d; want copyguard-nats-1, true, /data/jetstream, copyguard, 3",
			opts.ServerName, opts.JetStream, opts.StoreDir, opts.Cluster.Name, len(opts.Routes))
	}
	if len(opts.Users) == 0 && len(opts.Nkeys) == 0 && opts.Authorization == "" && opts.Username == "" {
		t.Error("no client authentication configured")
	}
	for _, u := range opts.Users {
		if u.Password == "" || u.Password[0] == '$' {
			t.Errorf("user %s: password %q did not come from the environment", u.Username, u.Password)
		}
	}
}
