package ecs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/internal/waitfor"
)

func TestCancelInFlightThenAgain(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for name, id := range map[string]string{"waiting": e.waiting(region), "creating": e.creating(region)} {
		t.Run(name, func(t *testing.T) {
			before, err := e.c.ListCopies(ctx, region)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(before, func(c cloud.Copy) bool { return c.ImageID == id }) {
				t.Fatalf("ListCopies before cancel does not hold %s: %v", id, before)
			}
			reqID, err := e.c.CancelCopy(ctx, region, id)
			if err != nil || reqID == "" {
				t.Fatalf("CancelCopy = %q, %v; want a request id and no error", reqID, err)
			}
			after, err := e.c.ListCopies(ctx, region)
			if err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(after, func(c cloud.Copy) bool { return c.ImageID == id }) {
				t.Errorf("ListCopies after cancel still holds %s", id)
			}
			if _, ok := e.sim.Image(region, id); ok {
				t.Errorf("simulator still has %s", id)
			}

			reqID2, err := e.c.CancelCopy(ctx, region, id)
			if got := classOf(err); got != "outcome/already_gone" {
				t.Fatalf("second cancel: %v, class %s; want outcome/already_gone", err, got)
			}
			if !errors.Is(err, cloud.ErrImageNotFound) || reqID2 == "" || reqID2 == reqID {
				t.Errorf("second cancel: err %v, request id %q (first %q)", err, reqID2, reqID)
			}
			want := "cancel copy " + id + " in " + region + ": InvalidImageId.NotFound"
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
			if n := e.sim.Calls("CancelCopyImage", id); n != 2 {
				t.Errorf("simulator saw %d CancelCopyImage calls, want 2", n)
			}
		})
	}
}

// TestCancelAnswers has one row per answer CancelCopy can get. Every row
// must reach the simulator exactly once: the SDK's auto-retry is off.
func TestCancelAnswers(t *testing.T) {
	e := newEnv(t, func(c *ecs.Config) { c.ReadTimeout = 2 * time.Second })
	tests := []struct {
		name   string
		region string
		seed   func() string
		script []ecssim.Answer
		class  string
		is     error // errors.Is must hold, if set
		check  func(t *testing.T, err error)
	}{
		{name: "Available copy", seed: func() string { return e.fixed(region, "Available", true) },
			class: "outcome/completed", is: cloud.ErrIncorrectImageStatus},
		{name: "CreateFailed copy", seed: func() string { return e.fixed(region, "CreateFailed", true) },
			class: "outcome/not_cancellable", is: cloud.ErrIncorrectImageStatus},
		{name: "not a copy", seed: func() string { return e.fixed(region, "Available", false) },
			class: "outcome/not_cancellable", is: cloud.ErrNotFromCopy},
		{name: "unknown image", seed: func() string { return "m-nosuchimage" },
			class: "outcome/already_gone", is: cloud.ErrImageNotFound},
		{name: "unknown region", region: "xx-nowhere-1", seed: func() string { return e.waiting(region) },
			class: "permanent", is: cloud.ErrRegionNotFound},
		{name: "Throttling.User 400", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Status: 400, Code: "Throttling.User", Message: "Request was denied due to user flow control."}},
			class:  "retryable", is: cloud.ErrThrottled, check: notUnknown},
		{name: "Throttling 400", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Status: 400, Code: "Throttling"}}, class: "retryable", is: cloud.ErrThrottled},
		{name: "503 ServiceUnavailable", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Status: 503, Code: "ServiceUnavailable"}}, class: "retryable", check: unknown},
		{name: "500 InternalError", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Status: 500, Code: "InternalError"}}, class: "retryable", check: unknown},
		{name: "non-JSON 502", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Raw: "<html><body>502 Bad Gateway</body></html>"}}, class: "retryable",
			check: func(t *testing.T, err error) {
				unknown(t, err)
				var ae *cloud.APIError
				if !errors.As(err, &ae) || ae.Code != "" || ae.HTTPStatus != 502 || !strings.Contains(ae.Message, "Bad Gateway") {
					t.Errorf("err = %#v, want APIError with no code, status 502 and the body", err)
				}
			}},
		{name: "2xx non-JSON", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Status: 200, Raw: "<html>ok</html>"}}, class: "retryable", is: cloud.ErrMalformedResponse, check: unknown},
		{name: "2xx without RequestId", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Status: 200, Raw: "{}"}}, class: "retryable", is: cloud.ErrMalformedResponse, check: unknown},
		{name: "2xx carrying an error code", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Status: 200, Raw: `{"RequestId":"r-200","Code":"Throttling.User","Message":"x"}`}},
			class:  "retryable", is: cloud.ErrThrottled},
		{name: "non-string RequestId (SDK panics)", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Status: 404, Raw: `{"RequestId":12345,"Code":"InvalidImageId.NotFound","Message":"gone"}`}},
			class:  "outcome/already_gone", is: cloud.ErrImageNotFound,
			check: func(t *testing.T, err error) {
				var ae *cloud.APIError
				if !errors.As(err, &ae) || ae.RequestID != "12345" || ae.HTTPStatus != 404 {
					t.Errorf("err = %#v, want RequestID 12345 and status 404", err)
				}
			}},
		{name: "dropped connection", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Drop: true}}, class: "retryable",
			check: func(t *testing.T, err error) {
				unknown(t, err)
				if te, ok := isTransport(err); !ok || te.Timeout || te.Op != "CancelCopyImage" {
					t.Errorf("err = %#v, want a non-timeout TransportError", err)
				}
			}},
		{name: "slow answer beyond ReadTimeout", seed: func() string { return e.waiting(region) },
			script: []ecssim.Answer{{Delay: 6 * time.Second, Pass: true}}, class: "retryable",
			check: func(t *testing.T, err error) {
				unknown(t, err)
				if te, ok := isTransport(err); !ok || !te.Timeout {
					t.Errorf("err = %#v, want a timeout TransportError", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.seed()
			reg := region
			if tt.region != "" {
				reg = tt.region
			}
			if len(tt.script) > 0 {
				e.sim.Script(id, tt.script...)
			}
			start := time.Now()
			_, err := e.c.CancelCopy(context.Background(), reg, id)
			if err == nil {
				t.Fatal("CancelCopy succeeded")
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("CancelCopy took %v", time.Since(start))
			}
			if got := classOf(err); got != tt.class {
				t.Errorf("class = %s, want %s (err %v)", got, tt.class, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if want := "cancel copy " + id + " in " + reg + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
			waitfor.Cond(t, "the call to reach the simulator", 5*time.Second, func() bool {
				return e.sim.Calls("CancelCopyImage", id) >= 1
			})
			if n := e.sim.Calls("CancelCopyImage", id); n != 1 {
				t.Errorf("simulator saw %d calls, want 1 (no SDK retries)", n)
			}
		})
	}
}

func unknown(t *testing.T, err error) {
	t.Helper()
	if !cloud.OutcomeUnknown(err) {
		t.Errorf("OutcomeUnknown(%v) = false, want true", err)
	}
}

func notUnknown(t *testing.T, err error) {
	t.Helper()
	if cloud.OutcomeUnknown(err) {
		t.Errorf("OutcomeUnknown(%v) = true, want false", err)
	}
}

func TestWrongCredentialsAreRefused(t *testing.T) {
	tests := []struct {
		name, ak, secret, code string
	}{
		{"wrong secret", testAK, "not-the-secret-Q7", "SignatureDoesNotMatch"},
		{"unknown key id", "LTAInosuchkey", "some-secret-W3", "InvalidAccessKeyId.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *ecs.Config) { c.AccessKeyID, c.AccessKeySecret = tt.ak, tt.secret })
			id := e.waiting(region)
			_, err := e.c.CancelCopy(context.Background(), region, id)
			if got := classOf(err); got != "permanent" {
				t.Fatalf("class = %s, want permanent (err %v)", got, err)
			}
			var ae *cloud.APIError
			if !errors.As(err, &ae) || ae.Code != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			if strings.Contains(err.Error(), tt.secret) || strings.Contains(ae.Message, tt.secret) {
				t.Errorf("error text holds the secret: %q", err)
			}
			if n := e.sim.Calls("CancelCopyImage", id); n != 0 {
				t.Errorf("simulator counted %d calls with a bad signature, want 0", n)
			}
			if img, ok := e.sim.Image(region, id); !ok || img.Status != cloud.StatusWaiting {
				t.Errorf("copy after a refused cancel: %+v, %v; want it still Waiting", img, ok)
			}
			if _, err := e.c.ListCopies(context.Background(), region); classOf(err) != "permanent" {
				t.Errorf("ListCopies with bad credentials: %v", err)
			}
		})
	}
}

// TestThrottlingFault uses the simulator's token bucket on a clock that
// does not move, so the second call in a row is throttled.
func TestThrottlingFault(t *testing.T) {
	e := newEnv(t, nil)
	id1, id2 := e.waiting(region), e.waiting(region)
	e.sim.SetFaults(ecssim.Faults{ThrottleQPS: 1, ThrottleBurst: 1})
	if _, err := e.c.CancelCopy(context.Background(), region, id1); err != nil {
		t.Fatalf("first cancel: %v", err)
	}
	_, err := e.c.CancelCopy(context.Background(), region, id2)
	if classOf(err) != "retryable" || !errors.Is(err, cloud.ErrThrottled) || cloud.OutcomeUnknown(err) {
		t.Fatalf("second cancel: %v (class %s), want retryable, ErrThrottled, known outcome", err, classOf(err))
	}
	var ae *cloud.APIError
	if errors.As(err, &ae); ae == nil || ae.HTTPStatus != 400 || ae.RequestID == "" {
		t.Errorf("throttled answer: %#v, want status 400 and a request id", ae)
	}
	if img, ok := e.sim.Image(region, id2); !ok || !(cloud.Copy{Status: img.Status}).InFlight() {
		t.Errorf("throttled copy: %+v, %v; want it still in flight", img, ok)
	}
}
