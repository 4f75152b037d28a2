package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/internal/natstest"
)

// TestWatchReconnects: watch says on stderr when it loses its NATS server
// and when it is back, and goes on printing events after the server
// restarts on the same store and port.
func TestWatchReconnects(t *testing.T) {
	dir := t.TempDir()
	ns := natstest.StartAt(t, dir, -1)
	port, url := ns.Port(), ns.ClientURL()
	b := setupBus(t, url, "copyguard")

	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(t.Context(), []string{"watch", "--nats-url", url, "--count", "2", "--timeout", "30s"}, &stdout, &stderr)
	}()
	// watch delivers from now: wait until its consumer exists before the first event.
	natstest.WaitFor(t, "the watch's consumer", 10*time.Second, func() bool { return watchers(t, b) == 1 })
	if _, _, err := cli(t, "pause", "--nats-url", url, "--reason", "before", "--by", "alice"); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "the first event", 10*time.Second, func() bool { return strings.Contains(stdout.String(), "before") })

	ns.Stop()
	natstest.WaitFor(t, "the lost connection reported", 10*time.Second, func() bool {
		return strings.Contains(stderr.String(), "copyguard watch: lost the connection to "+url)
	})
	natstest.StartAt(t, dir, port) // the same store and port: a restart
	natstest.WaitFor(t, "the reconnection reported", 20*time.Second, func() bool {
		return strings.Contains(stderr.String(), "copyguard watch: reconnected to "+url)
	})
	natstest.WaitFor(t, "the second event", 20*time.Second, func() bool {
		// The ordered consumer is set up again after the reconnect; an
		// event published before that would be missed by "from now".
		if _, _, err := cli(t, "resume", "--nats-url", url, "--reason", "after", "--by", "alice"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			return true
		case <-time.After(time.Second):
			return false
		}
	})
	if lines := strings.Split(strings.TrimSpace(stdout.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "audit    resume") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	if n := strings.Count(stderr.String(), "\n"); n != 2 {
		t.Errorf("stderr has %d lines, want the loss and the reconnection:\n%s", n, stderr.String())
	}
}

// TestWatchGivesUp: without a connection for --timeout, watch exits with
// an error saying so.
func TestWatchGivesUp(t *testing.T) {
	ns := natstest.Start(t)
	url := ns.ClientURL()
	b := setupBus(t, url, "copyguard")
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"watch", "--nats-url", url, "--timeout", "1s"}, &stdout, &stderr)
	}()
	natstest.WaitFor(t, "the watch's consumer", 10*time.Second, func() bool { return watchers(t, b) == 1 })
	ns.Stop()
	select {
	case err := <-done:
		if err == nil || err.Error() != "watch: no connection to nats at "+url+" for 1s (--timeout): giving up" {
			t.Errorf("watch ended with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch still running 15s after its server stopped, with --timeout 1s")
	}
	if !strings.HasPrefix(stderr.String(), "copyguard watch: lost the connection to "+url) {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// watchers counts the consumers of the events stream: watch's ordered one.
func watchers(t *testing.T, b *testBus) int {
	info, err := b.topo.Events.Info(t.Context())
	if err != nil {
		return -1
	}
	return info.State.Consumers
}
