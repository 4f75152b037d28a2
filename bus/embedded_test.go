package bus_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/copyguard/copyguard/bus"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEmbeddedRefusesAnOpenPort: the embedded server listens beyond
// loopback only when its configuration asks clients for credentials.
func TestEmbeddedRefusesAnOpenPort(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, host, conf string
	}{
		{"0.0.0.0 without a config", "0.0.0.0", ""},
		{"a config that listens everywhere without users", "", "listen: 0.0.0.0:-1\n"},
		{"a no_auth_user lets anyone in", "", `listen: 0.0.0.0:-1
authorization { users: [{user: w, password: "x"}] }
no_auth_user: w
`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := bus.EmbeddedConfig{Host: tt.host, Port: -1, StoreDir: t.TempDir()}
			if tt.conf != "" {
				cfg.ConfigFile = writeFile(t, "nats.conf", tt.conf)
			}
			s, err := bus.StartEmbedded(cfg)
			if err == nil {
				s.Shutdown()
				t.Fatal("started an embedded server on a non-loopback address without authentication")
			}
			if !strings.Contains(err.Error(), "refusing to listen on 0.0.0.0 without authentication") {
				t.Errorf("error = %v", err)
			}
		})
	}
}

// TestEmbeddedConfigFile: a standard nats-server configuration gives the
// embedded server its users; JetStream stays on, in --data-dir.
func TestEmbeddedConfigFile(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "nats.conf", `listen: 0.0.0.0:-1
authorization { users: [{user: worker, password: "s3cret"}] }
`)
	store := t.TempDir()
	s, err := bus.StartEmbedded(bus.EmbeddedConfig{ConfigFile: conf, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	// The server keeps its files in a "jetstream" folder of the store dir.
	if !s.JetStreamEnabled() || s.JetStreamConfig().StoreDir != filepath.Join(store, "jetstream") {
		t.Errorf("jetstream %v in %q, want on in %q", s.JetStreamEnabled(), s.JetStreamConfig().StoreDir, store)
	}
	if _, err := nats.Connect(s.ClientURL()); err == nil {
		t.Error("a client without credentials connected")
	}
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("worker", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()

	if _, err := bus.StartEmbedded(bus.EmbeddedConfig{ConfigFile: filepath.Join(t.TempDir(), "missing.conf"), StoreDir: t.TempDir()}); err == nil ||
		!strings.Contains(err.Error(), "missing.conf") {
		t.Errorf("a missing config file: %v", err)
	}
}
