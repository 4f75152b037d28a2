package world

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Call is one request the simulator received, as a CallLog saw it.
type Call struct {
	Action, Region, ImageID string
	At                      time.Time // arrival, before the simulator read it
	Answered                time.Time // the answer written (zero: the client went away first)
	Throttled               bool      // answered Throttling
}

// CallLog stands in front of the simulator (Config.WrapSim) and records
// every request with its time, so tests and the bench can count calls per
// region and second and see gaps, which the simulator's counters cannot.
type CallLog struct {
	next  http.Handler
	mu    sync.Mutex
	calls []Call
}

// NewCallLog records the requests that reach next.
func NewCallLog(next http.Handler) *CallLog { return &CallLog{next: next} }

// ServeHTTP records the request and passes it on.
func (l *CallLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c := Call{Action: q.Get("Action"), Region: q.Get("RegionId"), ImageID: q.Get("ImageId"), At: time.Now()}
	if c.Action == "" {
		c.Action = r.Header.Get("x-acs-action")
	}
	sn := &sniffer{ResponseWriter: w}
	l.next.ServeHTTP(sn, r)
	if sn.status != 0 {
		c.Answered = time.Now()
	}
	c.Throttled = sn.status == http.StatusBadRequest && bytes.Contains(sn.head, []byte(`"Throttling`))
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

// Calls returns the recorded requests for action ("" for all), in the
// order they were answered.
func (l *CallLog) Calls(action string) []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Call
	for _, c := range l.calls {
		if action == "" || c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// sniffer keeps the status and the start of the body, enough to see the
// Throttling code.
type sniffer struct {
	http.ResponseWriter
	status int
	head   []byte
}

func (s *sniffer) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *sniffer) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if len(s.head) < 512 {
		s.head = append(s.head, b[:min(len(b), 512-len(s.head))]...)
	}
	return s.ResponseWriter.Write(b)
}

// Hijack lets the simulator drop a connection through the log.
func (s *sniffer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack: not supported")
	}
	return hj.Hijack()
}
