package bus_test

import (
	"fmt"

	"github.com/nats-io/nats-server/v2/server"

	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/internal/natstest"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://alice:s3cret@nats.example:4222", "nats://***@nats.example:4222"},
		{"nats://token@nats.example:4222", "nats://***@nats.example:4222"},
		{"alice:s3cret@nats.example:4222", "***@nats.example:4222"},
		{"nats://a:p@h1:4222,nats://h2:4222,tls://b:q@h3:4222", "nats://***@h1:4222,nats://h2:4222,tls://***@h3:4222"},
		{"nats://alice:p@ss@h:4222", "nats://***@h:4222"}, // an @ inside the password
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := bus.RedactURL(tt.in); got != tt.want {
				t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAuthFromEnv(t *testing.T) {
	vars := []string{"NATS_CREDS", "NATS_NKEY", "NATS_CERT", "NATS_KEY", "NATS_CA", "NATS_USER", "NATS_PASSWORD", "NATS_TOKEN"}
	tests := []struct {
		name    string
		env     map[string]string
		opts    int    // options made, when no error
		wantErr string // in the error
	}{
		{name: "nothing set", opts: 0},
		{name: "user and password", env: map[string]string{"NATS_USER": "u", "NATS_PASSWORD": "p"}, opts: 1},
		{name: "token", env: map[string]string{"NATS_TOKEN": "t"}, opts: 1},
		{name: "creds file", env: map[string]string{"NATS_CREDS": "/does/not/exist.creds"}, opts: 1},
		{name: "cert without key", env: map[string]string{"NATS_CERT": "client.pem"}, wantErr: "NATS_CERT and NATS_KEY"},
		{name: "key without cert", env: map[string]string{"NATS_KEY": "client-key.pem"}, wantErr: "NATS_CERT and NATS_KEY"},
		{name: "nkey seed file missing", env: map[string]string{"NATS_NKEY": "/does/not/exist.nk"}, wantErr: "/does/not/exist.nk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range vars {
				t.Setenv(v, tt.env[v])
			}
			a := bus.AuthFromEnv()
			if a.User != tt.env["NATS_USER"] || a.Cert != tt.env["NATS_CERT"] || a.Token != tt.env["NATS_TOKEN"] {
				t.Errorf("AuthFromEnv = %+v, env %v", a, tt.env)
			}
			opts, err := a.Options()
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Options() error = %v, want one mentioning %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Errorf("Options() = %v", err)
			case tt.wantErr == "" && len(opts) != tt.opts:
				t.Errorf("Options() made %d options, want %d", len(opts), tt.opts)
			}
			if tt.wantErr != "" {
				if _, err := bus.Connect(t.Context(), bus.ConnConfig{URL: "nats://127.0.0.1:1", Auth: a}); err == nil {
					t.Error("Connect accepted credentials Options refuses")
				}
			}
		})
	}
}

func TestConnect(t *testing.T) {
	t.Parallel()
	t.Run("empty url", func(t *testing.T) {
		if _, err := bus.Connect(t.Context(), bus.ConnConfig{URL: "  "}); err == nil {
			t.Error("Connect with an empty url succeeded")
		}
	})
	t.Run("the error hides the password", func(t *testing.T) {
		_, err := bus.Connect(t.Context(), bus.ConnConfig{URL: "nats://alice:s3cret@127.0.0.1:1"})
		if err == nil {
			t.Fatal("Connect to a closed port succeeded")
		}
		if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "***@127.0.0.1:1") {
			t.Errorf("error = %q, want the url with its password hidden", err)
		}
	})
	t.Run("gives up after RetryFor, naming the url", func(t *testing.T) {
		var tries int
		start := time.Now()
		_, err := bus.Connect(t.Context(), bus.ConnConfig{URL: "nats://127.0.0.1:1", RetryFor: time.Second,
			OnEvent: func(ev string, _ error) {
				if ev == "connect_failed" {
					tries++
				}
			}})
		if err == nil || !strings.Contains(err.Error(), "connect nats nats://127.0.0.1:1 with no credentials: ") || !strings.Contains(err.Error(), "gave up after") {
			t.Fatalf("error = %v, want the url and how long it tried", err)
		}
		if tries < 2 || time.Since(start) < 500*time.Millisecond {
			t.Errorf("%d failed tries in %v, want several within the second", tries, time.Since(start))
		}
	})
	t.Run("retries until the server is up", func(t *testing.T) {
		dir, port := t.TempDir(), natstest.FreePorts(t, 1)[0]
		// The server comes up only after two connects failed: the pod
		// started before NATS, and Connect must have retried.
		failed := make(chan struct{}, 8)
		started := make(chan *server.Server, 1)
		go func() {
			<-failed
			<-failed
			s, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: dir, Port: port})
			if err != nil {
				t.Error(err)
			}
			started <- s
		}()
		nc, err := bus.Connect(t.Context(), bus.ConnConfig{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), RetryFor: 30 * time.Second,
			OnEvent: func(ev string, _ error) {
				if ev == "connect_failed" {
					select {
					case failed <- struct{}{}:
					default:
					}
				}
			}})
		if s := <-started; s != nil {
			defer func() { s.Shutdown(); s.WaitForShutdown() }()
		}
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
	})
	t.Run("a refused credential is not retried", func(t *testing.T) {
		s := natstest.StartWith(t, func(o *server.Options) { o.Username, o.Password = "worker", "right" })
		start := time.Now()
		_, err := bus.Connect(t.Context(), bus.ConnConfig{URL: s.ClientURL(), RetryFor: time.Minute,
			Auth: bus.Auth{User: "worker", Password: "wrong"}})
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Fatalf("error = %v, want the server's authorization violation", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("gave up after %v: a refused credential was retried", d)
		}
	})
	t.Run("events", func(t *testing.T) {
		s := natstest.Start(t)
		var mu sync.Mutex
		var events []string
		nc, err := bus.Connect(t.Context(), bus.ConnConfig{URL: s.ClientURL(), Name: "copyguard test", OnEvent: func(ev string, _ error) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
		if !nc.IsConnected() {
			t.Fatal("not connected")
		}
		nc.Close()
		natstest.WaitFor(t, "the closed event", 5*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(events) > 0 && events[len(events)-1] == "closed"
		})
	})
}

func TestStartEmbedded(t *testing.T) {
	t.Parallel()
	if _, err := bus.StartEmbedded(bus.EmbeddedConfig{}); err == nil {
		t.Error("StartEmbedded without a store dir succeeded")
	}
	var mu sync.Mutex
	var logged []string
	s, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: t.TempDir(), Port: -1, Logf: func(level, msg string) {
		mu.Lock()
		logged = append(logged, level+" "+msg)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.JetStreamEnabled() {
		t.Error("JetStream is not enabled")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) == 0 {
		t.Error("Logf was given nothing")
	}
}
