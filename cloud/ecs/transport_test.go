package ecs_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
)

// TestTimeoutDoesNotLeak checks the SDK's timeout leak cannot bite: a call
// cut short by a 100 ms context deadline must not leave 100 ms behind for
// the next call on the same pooled SDK client, whose answer takes 400 ms
// and whose configured read timeout is 10 s. (Which SDK client a call gets
// from the pool is up to sync.Pool; sdk_internal_test.go pins one.)
func TestTimeoutDoesNotLeak(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 3 {
		short, slow := e.waiting(region), e.waiting(region)
		e.sim.Script(short, ecssim.Answer{Delay: time.Second, Pass: true})
		start := time.Now()
		_, err := e.c.CancelCopy(ctxTimeout(t, 100*time.Millisecond), region, short)
		if te, ok := isTransport(err); !ok || !te.Timeout {
			t.Fatalf("round %d: short call: %v, want a timeout TransportError", i, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("round %d: short call took %v", i, d)
		}
		e.sim.Script(slow, ecssim.Answer{Delay: 400 * time.Millisecond, Pass: true})
		if _, err := e.c.CancelCopy(context.Background(), region, slow); err != nil {
			t.Fatalf("round %d: call after a short one: %v (a leaked timeout?)", i, err)
		}
	}
}

// TestReadTimeout checks the configured read timeout ends a slow call, and
// that the goroutine running it is gone soon after.
func TestReadTimeout(t *testing.T) {
	e := newEnv(t, func(c *ecs.Config) { c.ReadTimeout = 300 * time.Millisecond })
	id := e.waiting(region)
	base := baseline(e)
	e.sim.Script(id, ecssim.Answer{Delay: 5 * time.Second, Pass: true})
	start := time.Now()
	_, err := e.c.CancelCopy(context.Background(), region, id)
	took := time.Since(start)
	te, ok := isTransport(err)
	if !ok || !te.Timeout || classOf(err) != "retryable" || !cloud.OutcomeUnknown(err) {
		t.Fatalf("err = %v, want a retryable timeout TransportError with unknown outcome", err)
	}
	if took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("call took %v, want about 300ms", took)
	}
	t.Logf("read timeout after %v; goroutines back in %v", took, waitGoroutines(t, e, base, 10*time.Second))
}

// TestContextCancelReturnsPromptly cancels a call whose answer would take
// 8 s: CancelCopy returns at once, and the SDK goroutine, which cannot be
// cut, ends by itself at the read timeout (2 s here).
func TestContextCancelReturnsPromptly(t *testing.T) {
	e := newEnv(t, func(c *ecs.Config) { c.ReadTimeout = 2 * time.Second })
	id := e.waiting(region)
	base := baseline(e)
	e.sim.Script(id, ecssim.Answer{Delay: 8 * time.Second, Pass: true})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := e.c.CancelCopy(ctx, region, id)
	took := time.Since(start)
	if took > time.Second {
		t.Errorf("CancelCopy returned %v after the call started, want about 100ms", took)
	}
	te, ok := isTransport(err)
	if !ok || !te.Timeout || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a timeout TransportError wrapping context.Canceled", err)
	}
	if classOf(err) != "retryable" || !cloud.OutcomeUnknown(err) {
		t.Errorf("class %s unknown %v, want retryable and unknown", classOf(err), cloud.OutcomeUnknown(err))
	}
	back := waitGoroutines(t, e, base, 10*time.Second)
	t.Logf("returned after %v; goroutines back %v later", took, back)
}

// TestContextDeadlineBoundsTheCall: with a 150 ms deadline and a 10 s read
// timeout, the request itself is given 150 ms, so even the goroutine is
// gone long before the read timeout.
func TestContextDeadlineBoundsTheCall(t *testing.T) {
	e := newEnv(t, func(c *ecs.Config) { c.ReadTimeout = 10 * time.Second })
	id := e.waiting(region)
	base := baseline(e)
	e.sim.Script(id, ecssim.Answer{Delay: 8 * time.Second, Pass: true})
	start := time.Now()
	_, err := e.c.CancelCopy(ctxTimeout(t, 150*time.Millisecond), region, id)
	if te, ok := isTransport(err); !ok || !te.Timeout {
		t.Fatalf("err = %v, want a timeout TransportError", err)
	}
	waitGoroutines(t, e, base, 8*time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("goroutines took %v to settle, want well under the 10s read timeout", d)
	}
}

func TestDroppedConnectionsFault(t *testing.T) {
	e := newEnv(t, nil)
	id := e.waiting(region)
	e.sim.SetFaults(ecssim.Faults{DropRate: 1})
	_, err := e.c.CancelCopy(context.Background(), region, id)
	if te, ok := isTransport(err); !ok || te.Timeout || classOf(err) != "retryable" {
		t.Fatalf("err = %v, want a retryable non-timeout TransportError", err)
	}
	if n := e.sim.TotalCalls("CancelCopyImage"); n != 1 {
		t.Errorf("simulator saw %d calls, want 1", n)
	}
}

// TestTransportErrorsHoldNoSecrets fails a call at the transport level
// with STS credentials: the error must show neither the secret nor the
// token nor the signature, which the SDK puts in the URL query.
func TestTransportErrorsHoldNoSecrets(t *testing.T) {
	const token = "CAIS-sts-security-token-0123456789"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	for _, tt := range []struct {
		name     string
		endpoint string
		timeout  bool
	}{
		{"refused", addr, false},
		{"dropped", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *ecs.Config) {
				c.SecurityToken = token
				if tt.endpoint != "" {
					c.Endpoint = tt.endpoint
				}
			})
			id := e.waiting(region)
			e.sim.Script(id, ecssim.Answer{Drop: true})
			_, err := e.c.CancelCopy(context.Background(), region, id)
			if _, ok := isTransport(err); !ok {
				t.Fatalf("err = %v, want a TransportError", err)
			}
			msg := err.Error()
			for _, s := range []string{testSecret, url.QueryEscape(testSecret), token, "Signature=", "AccessKeyId="} {
				if strings.Contains(msg, s) {
					t.Errorf("error %q holds %q", msg, s)
				}
			}
		})
	}
}

// TestHTTPSIsTheDefault points a client without Insecure at a plain HTTP
// server and at a TLS server with an untrusted certificate: both fail at
// the transport, and neither request reaches the API.
func TestHTTPSIsTheDefault(t *testing.T) {
	e := newEnv(t, nil)
	id := e.waiting(region)
	tlsSrv := httptest.NewUnstartedServer(e.sim)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	for _, tt := range []struct {
		name, endpoint, want string
	}{
		{"plain HTTP server", e.srv.Listener.Addr().String(), "server gave HTTP response to HTTPS client"},
		{"untrusted certificate", tlsSrv.Listener.Addr().String(), "certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ecs.New(ecs.Config{Endpoint: tt.endpoint, AccessKeyID: testAK, AccessKeySecret: testSecret})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !strings.Contains(c.String(), "scheme:https") {
				t.Errorf("client %s, want scheme https", c)
			}
			_, err = c.CancelCopy(context.Background(), region, id)
			if _, ok := isTransport(err); !ok || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a TransportError about %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "https://") {
				t.Errorf("err = %v, want the https URL", err)
			}
		})
	}
	if n := e.sim.TotalCalls("CancelCopyImage"); n != 0 {
		t.Errorf("simulator saw %d calls, want 0", n)
	}
}

// TestRegionIsNotAHost checks a region that would bend the SDK's endpoint
// rule (ecs.<region>.aliyuncs.com) is refused before anything is sent.
func TestRegionIsNotAHost(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	c, err := ecs.New(ecs.Config{AccessKeyID: testAK, AccessKeySecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	evil := strings.TrimPrefix(srv.URL, "http://") + "/#"
	if _, err := c.CancelCopy(context.Background(), evil, "m-1"); classOf(err) != "permanent" {
		t.Errorf("CancelCopy in %q: %v, want a permanent error", evil, err)
	}
	if _, err := c.ListCopies(context.Background(), "cn-hangzhou.evil.example"); classOf(err) != "permanent" {
		t.Errorf("ListCopies: %v, want a permanent error", err)
	}
	if hits != 0 {
		t.Errorf("server got %d requests", hits)
	}
}

// TestProxyEnvironmentSkipsLoopback runs a call in a child process whose
// environment points HTTP_PROXY and HTTPS_PROXY at a dead port. The SDK's
// own proxy handling would send even 127.0.0.1 there (ecs-api.md §5.3);
// the client's transport uses the standard rules, which never proxy
// loopback. A child process is needed because net/http reads the proxy
// environment once per process.
func TestProxyEnvironmentSkipsLoopback(t *testing.T) {
	if os.Getenv("ECS_TEST_PROXY_CHILD") == "1" {
		e := newEnv(t, nil)
		if _, err := e.c.CancelCopy(context.Background(), region, e.waiting(region)); err != nil {
			t.Fatalf("CancelCopy with a proxy in the environment: %v", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyEnvironmentSkipsLoopback$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ECS_TEST_PROXY_CHILD=1",
		"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9",
		"http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "NO_PROXY=", "no_proxy=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
