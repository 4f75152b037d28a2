package ecssim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testKey    = "test-key"
	testSecret = "test-secret"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is the injectable clock; tests move it instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t     testing.TB
	s     *Server
	clock *fakeClock
	nonce atomic.Int64
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	clock := &fakeClock{t: epoch}
	if cfg.Keys == nil {
		cfg.Keys = map[string]string{testKey: testSecret}
	}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	return &harness{t: t, s: New(cfg), clock: clock}
}

// params returns the common parameters of an action, plus kv pairs.
func (h *harness) params(action, region string, kv ...string) map[string]string {
	p := map[string]string{"Action": action, "Version": APIVersion, "Format": "JSON"}
	if region != "" {
		p["RegionId"] = region
	}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

// sign signs p as POST with the harness key, a fresh nonce and the clock.
func (h *harness) sign(p map[string]string) map[string]string {
	SignParams(http.MethodPost, p, testKey, testSecret, fmt.Sprintf("nonce-%d", h.nonce.Add(1)), h.clock.Now())
	return p
}

// send posts p in the query string, as the SDK does, and returns the answer.
func (h *harness) send(p map[string]string) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.sendRequest(http.MethodPost, p, "")
}

func (h *harness) sendRequest(method string, p map[string]string, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	r := httptest.NewRequest(method, "/?"+q.Encode(), strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.s.ServeHTTP(w, r)
	if w.Code < 200 || w.Code > 299 {
		checkErrorBody(h.t, w.Body.Bytes())
	}
	return w
}

// call signs and sends an action and decodes the JSON answer.
func (h *harness) call(action, region string, kv ...string) (int, map[string]any) {
	h.t.Helper()
	w := h.send(h.sign(h.params(action, region, kv...)))
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		h.t.Fatalf("%s: answer %d is not JSON: %v: %q", action, w.Code, err, w.Body.String())
	}
	if id, _ := m["RequestId"].(string); id == "" {
		h.t.Fatalf("%s: answer has no string RequestId: %s", action, w.Body.String())
	}
	return w.Code, m
}

// errorFields are the fields of every error body; the SDK panics unless
// each is a string.
var errorFields = []string{"RequestId", "HostId", "Code", "Message", "Recommend"}

func checkErrorBody(t testing.TB, body []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, body)
	}
	for k, v := range m {
		if _, ok := v.(string); !ok {
			t.Errorf("error body field %s is %T, want string: %s", k, v, body)
		}
	}
	for _, k := range errorFields {
		if s, _ := m[k].(string); s == "" && k != "Message" {
			t.Errorf("error body lacks %s: %s", k, body)
		}
	}
}

func code(m map[string]any) string {
	s, _ := m["Code"].(string)
	return s
}

// images returns DescribeImages' Images.Image list.
func images(t testing.TB, m map[string]any) []map[string]any {
	t.Helper()
	wrap, ok := m["Images"].(map[string]any)
	if !ok {
		t.Fatalf("no Images object in %v", m)
	}
	list, ok := wrap["Image"].([]any)
	if !ok {
		t.Fatalf("no Images.Image array in %v", m)
	}
	out := make([]map[string]any, len(list))
	for i, v := range list {
		out[i] = v.(map[string]any)
	}
	return out
}

func ids(t testing.TB, m map[string]any) []string {
	t.Helper()
	var out []string
	for _, im := range images(t, m) {
		out = append(out, im["ImageId"].(string))
	}
	return out
}
