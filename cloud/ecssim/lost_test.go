package ecssim

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLostAnswer plays "the cancel took effect but the answer was lost":
// Pass with Drop, and DelayAfter with a client timeout, against the old
// combinations that lose the answer without any effect.
func TestLostAnswer(t *testing.T) {
	const (
		wantAnswer = iota
		wantDrop
		wantTimeout
	)
	tests := []struct {
		name    string
		answer  Answer
		timeout time.Duration // client timeout; 0 means none
		want    int
		// gone: the copy was cancelled whatever the client saw.
		gone bool
		// minWait: the client heard back (or not) no sooner than this.
		minWait time.Duration
	}{
		{"pass and drop: cancelled, no answer", Answer{Pass: true, Drop: true}, 0, wantDrop, true, 0},
		{"pass, drop, delay before: cancelled, then dropped", Answer{Pass: true, Drop: true, Delay: 50 * time.Millisecond}, 0, wantDrop, true, 50 * time.Millisecond},
		{"pass, drop, delay after: cancelled, dropped late", Answer{Pass: true, Drop: true, Delay: 50 * time.Millisecond, DelayAfter: true}, 0, wantDrop, true, 50 * time.Millisecond},
		{"pass, delay after, client times out: cancelled", Answer{Pass: true, Delay: 5 * time.Second, DelayAfter: true}, 150 * time.Millisecond, wantTimeout, true, 0},
		{"delay after alone behaves like pass", Answer{Delay: 5 * time.Second, DelayAfter: true}, 150 * time.Millisecond, wantTimeout, true, 0},
		{"pass, drop, delay after, client times out: cancelled", Answer{Pass: true, Drop: true, Delay: 5 * time.Second, DelayAfter: true}, 150 * time.Millisecond, wantTimeout, true, 0},
		{"pass, delay after, patient client: cancelled and answered late", Answer{Pass: true, Delay: 50 * time.Millisecond, DelayAfter: true}, 5 * time.Second, wantAnswer, true, 50 * time.Millisecond},
		// The existing combinations: no answer and no effect.
		{"drop alone: not cancelled", Answer{Drop: true}, 0, wantDrop, false, 0},
		{"drop with delay after but no pass: not cancelled", Answer{Drop: true, Delay: 50 * time.Millisecond, DelayAfter: true}, 0, wantDrop, false, 50 * time.Millisecond},
		{"delay before pass, client times out: not cancelled", Answer{Pass: true, Delay: 5 * time.Second}, 150 * time.Millisecond, wantTimeout, false, 0},
		{"delay before pass, patient client: cancelled", Answer{Pass: true, Delay: 50 * time.Millisecond}, 5 * time.Second, wantAnswer, true, 50 * time.Millisecond},
		{"scripted error with delay after: not cancelled", Answer{Code: "InternalError", Status: 500, Delay: 50 * time.Millisecond, DelayAfter: true}, 5 * time.Second, wantAnswer, false, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			ts := httptest.NewServer(h.s)
			defer ts.Close()
			id := h.s.AddImage(Image{Region: "cn-hangzhou", IsCopied: true})
			h.s.Script(id, tt.answer)

			start := time.Now()
			resp, err := postTimeout(ts.URL, h.sign(h.params("CancelCopyImage", "cn-hangzhou", "ImageId", id)), tt.timeout)
			took := time.Since(start)
			var status int
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			switch tt.want {
			case wantAnswer:
				if err != nil {
					t.Fatalf("want an answer, got %v", err)
				}
			case wantDrop:
				if err == nil || timedOut {
					t.Fatalf("want a dropped connection, got status %d, err %v", status, err)
				}
				if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
					t.Fatalf("want EOF or reset, got %v", err)
				}
			case wantTimeout:
				if !timedOut {
					t.Fatalf("want a client timeout, got status %d, err %v", status, err)
				}
				if took > 3*time.Second {
					t.Fatalf("the client waited %v: the server held the answer instead of the client giving up", took)
				}
			}
			if took < tt.minWait {
				t.Fatalf("the client heard back after %v, want at least %v", took, tt.minWait)
			}
			// Checked at once, while a late answer may still be held back:
			// a cancel that took effect did so before the client gave up.
			if _, exists := h.s.Image("cn-hangzhou", id); exists == tt.gone {
				t.Fatalf("copy exists = %v right after the call, want %v", exists, !tt.gone)
			}
			// Closing waits for the handler, so an action that was not to
			// run has had every chance to run by now.
			ts.Close()
			if _, exists := h.s.Image("cn-hangzhou", id); exists == tt.gone {
				t.Fatalf("copy exists = %v after the handler ended, want %v", exists, !tt.gone)
			}

			// The retry the rule is about: a second cancel of a cancelled
			// copy answers InvalidImageId.NotFound.
			s, m := h.call("CancelCopyImage", "cn-hangzhou", "ImageId", id)
			switch {
			case tt.gone && (s != http.StatusNotFound || code(m) != CodeInvalidImage):
				t.Fatalf("second cancel: %d %v, want 404 %s", s, m, CodeInvalidImage)
			case !tt.gone && s != http.StatusOK:
				t.Fatalf("second cancel of a copy still in flight: %d %v, want 200", s, m)
			}
			if n := h.s.Calls("CancelCopyImage", id); n != 2 {
				t.Fatalf("Calls = %d, want 2", n)
			}
		})
	}
}

// TestLostAnswerOtherActions: the lost-answer modes run whatever action was
// asked for, here a CopyImage whose new copy exists though the caller never
// learnt its id.
func TestLostAnswerOtherActions(t *testing.T) {
	h := newHarness(t, Config{})
	ts := httptest.NewServer(h.s)
	defer ts.Close()
	src := h.s.AddImage(Image{Region: "cn-hangzhou"})
	h.s.Script(src, Answer{Pass: true, Drop: true})
	resp, err := postTimeout(ts.URL, h.sign(h.params("CopyImage", "cn-hangzhou", "ImageId", src, "DestinationRegionId", "cn-beijing")), 0)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("want a dropped connection, got %d", resp.StatusCode)
	}
	_, m := h.call("DescribeImages", "cn-beijing", "Status", "Waiting,Creating")
	if got := ids(t, m); len(got) != 1 {
		t.Fatalf("copies in cn-beijing after a lost CopyImage answer: %v, want one", got)
	}
}

// postTimeout sends signed params to a real HTTP server with a client
// timeout (0: none) on a fresh connection.
func postTimeout(base string, p map[string]string, timeout time.Duration) (*http.Response, error) {
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	return c.Post(base+"/?"+q.Encode(), "application/x-www-form-urlencoded", nil)
}
