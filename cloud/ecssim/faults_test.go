package ecssim

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	h := newHarness(t, Config{})
	h.s.SetFaults(Faults{ThrottleQPS: 2.5}) // burst 3
	statuses := func(action, region string, n int) []int {
		var out []int
		for range n {
			s, _ := h.call(action, region)
			out = append(out, s)
		}
		return out
	}
	if got := statuses("DescribeImages", "cn-hangzhou", 4); !equalInts(got, []int{200, 200, 200, 400}) {
		t.Fatalf("burst: %v", got)
	}
	_, m := h.call("DescribeImages", "cn-hangzhou")
	if code(m) != CodeThrottling {
		t.Fatalf("code %v", m)
	}
	t.Run("other region and other action have their own bucket", func(t *testing.T) {
		if s, _ := h.call("DescribeImages", "cn-beijing"); s != 200 {
			t.Fatal(s)
		}
		if s, m := h.call("CancelCopyImage", "cn-hangzhou", "ImageId", "m-x"); s != 404 {
			t.Fatal(s, m)
		}
	})
	t.Run("refill on the server clock", func(t *testing.T) {
		h.clock.Add(400 * time.Millisecond) // one token at 2.5/s
		if got := statuses("DescribeImages", "cn-hangzhou", 2); !equalInts(got, []int{200, 400}) {
			t.Fatalf("%v", got)
		}
		h.clock.Add(time.Hour) // never more than the burst
		if got := statuses("DescribeImages", "cn-hangzhou", 4); !equalInts(got, []int{200, 200, 200, 400}) {
			t.Fatalf("%v", got)
		}
	})
	t.Run("explicit burst, and SetFaults resets buckets", func(t *testing.T) {
		h.s.SetFaults(Faults{ThrottleQPS: 1, ThrottleBurst: 2})
		if got := statuses("DescribeImages", "cn-hangzhou", 3); !equalInts(got, []int{200, 200, 400}) {
			t.Fatalf("%v", got)
		}
		h.s.SetFaults(Faults{})
		if got := statuses("DescribeImages", "cn-hangzhou", 5); !equalInts(got, []int{200, 200, 200, 200, 200}) {
			t.Fatalf("%v", got)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestErrorFaults(t *testing.T) {
	t.Run("error rate 1 gives 500 and 503 JSON errors", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.s.SetFaults(Faults{ErrorRate: 1})
		seen := map[string]int{}
		for range 40 {
			s, m := h.call("DescribeImages", "cn-hangzhou")
			seen[code(m)]++
			if (s == 500) != (code(m) == CodeInternalError) || (s == 503) != (code(m) == CodeServiceUnavailable) {
				t.Fatalf("status %d with %v", s, m)
			}
		}
		if seen[CodeInternalError] == 0 || seen[CodeServiceUnavailable] == 0 {
			t.Fatalf("want both kinds: %v", seen)
		}
	})
	t.Run("raw error rate 1 gives non-JSON 502", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.s.SetFaults(Faults{RawErrorRate: 1})
		w := h.s.serve(h.sign(h.params("DescribeImages", "cn-hangzhou")))
		if w.Code != 502 || !strings.HasPrefix(w.Body.String(), "<html>") {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("error rate 0.3 is roughly 30 percent", func(t *testing.T) {
		h := newHarness(t, Config{Seed: 7})
		h.s.SetFaults(Faults{ErrorRate: 0.3})
		failed := 0
		for range 1000 {
			if s, _ := h.call("DescribeImages", "cn-hangzhou"); s != 200 {
				failed++
			}
		}
		if failed < 240 || failed > 360 {
			t.Fatalf("%d of 1000 failed", failed)
		}
	})
	t.Run("validate and clamp", func(t *testing.T) {
		bad := Faults{ErrorRate: 1.5, DropRate: -1, RawErrorRate: 2, ThrottleQPS: -1, ThrottleBurst: -1, Latency: -1}
		if err := bad.Validate(); err == nil || strings.Count(err.Error(), "\n") != 5 {
			t.Fatalf("Validate = %v", err)
		}
		if err := (Faults{ErrorRate: 1, ThrottleQPS: 3}).Validate(); err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, Config{})
		h.s.SetFaults(bad) // clamps: every request fails with a 5xx, none is dropped
		if s, _ := h.call("DescribeImages", "cn-hangzhou"); s < 500 {
			t.Fatalf("status %d", s)
		}
	})
}

// serve sends signed params straight to the handler without checking the
// body, for answers that are not JSON by design.
func (s *Server) serve(p map[string]string) *httptest.ResponseRecorder {
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/?"+q.Encode(), nil))
	return w
}

// post sends signed params to a real HTTP server, for faults that act on
// the connection.
func post(t *testing.T, h *harness, base string, p map[string]string) (*http.Response, error) {
	t.Helper()
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return c.Post(base+"/?"+q.Encode(), "application/x-www-form-urlencoded", nil)
}

func TestLatencyAndDrop(t *testing.T) {
	h := newHarness(t, Config{})
	ts := httptest.NewServer(h.s)
	defer ts.Close()
	t.Run("latency", func(t *testing.T) {
		h.s.SetFaults(Faults{Latency: 80 * time.Millisecond})
		start := time.Now()
		resp, err := post(t, h, ts.URL, h.sign(h.params("DescribeImages", "cn-hangzhou")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if d := time.Since(start); d < 80*time.Millisecond || resp.StatusCode != 200 {
			t.Fatalf("answered %d after %v", resp.StatusCode, d)
		}
	})
	t.Run("drop", func(t *testing.T) {
		h.s.SetFaults(Faults{DropRate: 1})
		before := h.s.TotalCalls("DescribeImages")
		resp, err := post(t, h, ts.URL, h.sign(h.params("DescribeImages", "cn-hangzhou")))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("dropped request got an answer: %d", resp.StatusCode)
		}
		if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("unexpected error: %v", err)
		}
		if h.s.TotalCalls("DescribeImages") != before+1 {
			t.Fatal("a dropped request still counts")
		}
	})
	t.Run("client gone during latency", func(t *testing.T) {
		h.s.SetFaults(Faults{Latency: time.Hour})
		c := &http.Client{Timeout: 50 * time.Millisecond}
		q := url.Values{}
		for k, v := range h.sign(h.params("DescribeImages", "cn-hangzhou")) {
			q.Set(k, v)
		}
		if resp, err := c.Post(ts.URL+"/?"+q.Encode(), "", nil); err == nil {
			resp.Body.Close()
			t.Fatal("expected a client timeout")
		}
		h.s.SetFaults(Faults{})
	})
	t.Run("drop without hijacker aborts", func(t *testing.T) {
		h.s.SetFaults(Faults{DropRate: 1})
		defer h.s.SetFaults(Faults{})
		defer func() {
			if r := recover(); r != http.ErrAbortHandler {
				t.Fatalf("recovered %v", r)
			}
		}()
		h.s.serve(h.sign(h.params("DescribeImages", "cn-hangzhou")))
	})
}

func TestFaultsNeedValidSignature(t *testing.T) {
	h := newHarness(t, Config{})
	h.s.SetFaults(Faults{ErrorRate: 1, ThrottleQPS: 0.001})
	p := h.sign(h.params("DescribeImages", "cn-hangzhou"))
	p["Signature"] = "bad"
	if w := h.send(p); w.Code != 400 || !strings.Contains(w.Body.String(), CodeSignatureDoesNotMatch) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if n := h.s.TotalCalls("DescribeImages"); n != 0 {
		t.Fatalf("unsigned request counted: %d", n)
	}
}
