package main

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
)

// simRegions are the regions the ecssim tests serve; --copies spreads the
// demo copies over them round-robin.
var simRegions = []string{"cn-hangzhou", "cn-shanghai"}

// simProc is a `copyguard ecssim` started by a test in a goroutine.
type simProc struct {
	addr   string // host:port it printed
	cancel context.CancelFunc
	done   chan struct{} // closed when run returned, err set
	err    error
}

// startECSSim runs `copyguard ecssim args...` in a goroutine with a context
// of its own and waits for the address it prints. Cleanup cancels the
// context and waits for run to return.
func startECSSim(t *testing.T, args ...string) *simProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &simProc{cancel: cancel, done: make(chan struct{})}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	go func() {
		defer close(p.done)
		p.err = run(ctx, append([]string{"ecssim"}, args...), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if !p.wait(10 * time.Second) {
			t.Error("copyguard ecssim did not stop within 10s of its context ending")
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	})
	const prefix = "ecssim listening on http://"
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := stdout.String()
		if _, rest, ok := strings.Cut(out, prefix); ok {
			if line, _, ok := strings.Cut(rest, "\n"); ok {
				p.addr = line
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("copyguard ecssim returned before listening: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("copyguard ecssim printed no address within 10s; stdout: %q", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait reports whether run returned within d.
func (p *simProc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestECSSimServesSDK: `copyguard ecssim --copies 5` serves the seeded demo
// copies to the real SDK through cloud/ecs, accepts a cancel, and returns
// nil once its context ends, closing the port.
func TestECSSimServesSDK(t *testing.T) {
	const seed = "7"
	sim := startECSSim(t, "--addr", "127.0.0.1:0", "--copies", "5", "--regions", strings.Join(simRegions, ","),
		"--rand-seed", seed, "--access-key-id", "cli-key", "--access-key-secret", "cli-secret")
	addr := sim.addr
	if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("printed address %q: want 127.0.0.1 with the port picked", addr)
	}

	// --rand-seed makes the demo copies reproducible: the same seed in a
	// simulator of our own names the same copies.
	ref := ecssim.New(ecssim.Config{Seed: 7, Regions: simRegions})
	want := map[string]ecssim.Image{}
	for _, id := range ref.AddDemoCopies(5) {
		for _, r := range simRegions {
			if img, ok := ref.Image(r, id); ok {
				want[r+"/"+id] = img
			}
		}
	}
	if len(want) != 5 {
		t.Fatalf("reference simulator seeded %d copies, want 5", len(want))
	}

	c, err := ecs.New(ecs.Config{Endpoint: addr, Insecure: true, AccessKeyID: "cli-key", AccessKeySecret: "cli-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	listed := map[string]bool{}
	for _, r := range simRegions {
		copies, err := c.ListCopies(ctx, r)
		if err != nil {
			t.Fatalf("ListCopies(%s): %v", r, err)
		}
		for _, cp := range copies {
			img, ok := want[cp.Key()]
			if !ok {
				t.Errorf("listed %s, which --copies 5 --rand-seed %s did not seed", cp.Key(), seed)
				continue
			}
			if cp.Name != img.Name || cp.Tags["copyguard-demo"] != "copy" || !cp.InFlight() {
				t.Errorf("%s: listed as %+v, seeded as %+v", cp.Key(), cp, img)
			}
			listed[cp.Key()] = true
		}
	}
	for k, img := range want {
		// A copy drawn to fail may already have turned CreateFailed.
		if !listed[k] && !img.Fail {
			t.Errorf("seeded copy %s (%s) is not listed", k, img.Name)
		}
	}
	if len(listed) == 0 {
		t.Fatal("no copy listed")
	}
	t.Logf("listed %d of the %d seeded copies", len(listed), len(want))

	// A cancel through the SDK takes the copy out of the listing.
	var victim string
	for k := range listed {
		victim = k
		break
	}
	region, id, _ := strings.Cut(victim, "/")
	if reqID, err := c.CancelCopy(ctx, region, id); err != nil || reqID == "" {
		t.Fatalf("CancelCopy(%s): request id %q, %v", victim, reqID, err)
	}
	copies, err := c.ListCopies(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(copies, func(cp cloud.Copy) bool { return cp.Key() == victim }) {
		t.Errorf("%s still listed after its cancel", victim)
	}

	// A wrong key is refused: the flags set the only accepted pair.
	bad, err := ecs.New(ecs.Config{Endpoint: addr, Insecure: true, AccessKeyID: "sim-key", AccessKeySecret: "sim-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	var apiErr *cloud.APIError
	if _, err := bad.ListCopies(ctx, region); !errors.As(err, &apiErr) || apiErr.Code != "InvalidAccessKeyId.NotFound" {
		t.Errorf("ListCopies with the default key while --access-key-id is set: %v, want InvalidAccessKeyId.NotFound", err)
	}

	sim.cancel()
	if !sim.wait(10 * time.Second) {
		t.Fatal("copyguard ecssim did not return within 10s of its context ending")
	}
	if sim.err != nil {
		t.Fatalf("after its context ended, copyguard ecssim returned %v, want nil", sim.err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after copyguard ecssim returned", addr)
	}
}

// TestECSSimBadFlags: bad flags stop `copyguard ecssim` before it listens,
// with an error (or, for what the flag package rejects, stderr) naming each
// bad flag.
func TestECSSimBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// want are substrings of the error, or of stderr when exit is set.
		want []string
		exit exitError // non-zero: the flag package reported on stderr
	}{
		{"negative copies", []string{"--copies", "-1"}, []string{"--copies: must be >= 0"}, 0},
		{"error rate above 1", []string{"--error-rate", "1.5"}, []string{"--error-rate: must be between 0 and 1"}, 0},
		{"every problem at once", []string{"--copies", "-2", "--drop-rate", "-0.1", "--raw-error-rate", "2", "--latency", "-1s"},
			[]string{"--copies", "--drop-rate", "--raw-error-rate", "--latency"}, 0},
		{"empty regions", []string{"--regions", " , "}, []string{"--regions: no region given"}, 0},
		{"copies need two regions", []string{"--copies", "3", "--regions", "cn-hangzhou"}, []string{"--copies: needs at least two regions"}, 0},
		{"empty key", []string{"--access-key-id", ""}, []string{"--access-key-id"}, 0},
		{"negative copy time", []string{"--copy-time", "-1m"}, []string{"--copy-time"}, 0},
		{"stray argument", []string{"serve"}, []string{"unexpected arguments: serve"}, 0},
		{"unknown flag", []string{"--no-such-flag"}, []string{"no-such-flag"}, 2},
		{"unparsable duration", []string{"--latency", "soon"}, []string{"-latency"}, 2},
		{"unparsable number", []string{"--copies", "five"}, []string{"-copies"}, 2},
		{"missing seed file", []string{"--seed", "testdata/no-such-seed.yaml"}, []string{"ecssim seed", "no-such-seed.yaml"}, 0},
		{"unusable address", []string{"--addr", "127.0.0.1:-5"}, []string{"ecssim listen 127.0.0.1:-5"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A bad flag must fail at once; the timeout only keeps a
			// regression from hanging the test on a running server.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stdout, stderr := &syncBuffer{}, &syncBuffer{}
			start := time.Now()
			err := run(ctx, append([]string{"ecssim", "--addr", "127.0.0.1:0"}, tt.args...), stdout, stderr)
			if err == nil {
				t.Fatalf("run returned nil after %v, want an error", time.Since(start))
			}
			if strings.Contains(stdout.String(), "listening") {
				t.Fatalf("listened despite the bad flags: %s", stdout)
			}
			text := err.Error()
			if tt.exit != 0 {
				var code exitError
				if !errors.As(err, &code) || code != tt.exit {
					t.Fatalf("error %v, want exit status %d", err, tt.exit)
				}
				text = stderr.String()
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("%q does not name %q", text, w)
				}
			}
		})
	}
}
