package ecssim

import (
	"errors"
	"math"
	"net/http"
	"time"
)

// Faults makes the server misbehave the way the real API and the network
// in front of it do. Faults apply only to requests whose signature is valid
// and that no scripted Answer claimed, in this order: Latency, then
// throttling, then DropRate, then ErrorRate, then RawErrorRate.
type Faults struct {
	// ThrottleQPS limits each (region, action) pair with a token bucket
	// refilled on the server clock; requests above it get 400
	// Throttling.User. 0 means no limit.
	ThrottleQPS float64
	// ThrottleBurst is the bucket size; 0 means ceil(ThrottleQPS).
	ThrottleBurst int
	// ErrorRate is the share (0..1) of answers replaced by a JSON 500
	// InternalError or 503 ServiceUnavailable, half each.
	ErrorRate float64
	// RawErrorRate is the share (0..1) of answers replaced by a 502 with an
	// HTML body, which the SDK reports with an empty error code.
	RawErrorRate float64
	// Latency delays every answer, in real time.
	Latency time.Duration
	// DropRate is the share (0..1) of requests whose connection is closed
	// without an answer.
	DropRate float64
}

// Validate reports out-of-range fields.
func (f Faults) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{{"error rate", f.ErrorRate}, {"raw error rate", f.RawErrorRate}, {"drop rate", f.DropRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			errs = append(errs, errors.New("faults: "+r.name+" must be between 0 and 1"))
		}
	}
	if !(f.ThrottleQPS >= 0) || math.IsInf(f.ThrottleQPS, 0) {
		errs = append(errs, errors.New("faults: throttle qps must be a finite number >= 0"))
	}
	if f.ThrottleBurst < 0 {
		errs = append(errs, errors.New("faults: throttle burst must be >= 0"))
	}
	if f.Latency < 0 {
		errs = append(errs, errors.New("faults: latency must be >= 0"))
	}
	return errors.Join(errs...)
}

// SetFaults replaces the fault settings; it takes effect for the next
// request. Out-of-range values are clamped (see Validate). Token buckets
// restart full so a new limit is not skewed by the old one.
func (s *Server) SetFaults(f Faults) {
	clamp := func(v float64) float64 {
		if !(v > 0) {
			return 0
		}
		return min(v, 1)
	}
	f.ErrorRate, f.RawErrorRate, f.DropRate = clamp(f.ErrorRate), clamp(f.RawErrorRate), clamp(f.DropRate)
	if !(f.ThrottleQPS > 0) || math.IsInf(f.ThrottleQPS, 0) {
		f.ThrottleQPS = 0
	}
	f.ThrottleBurst = max(f.ThrottleBurst, 0)
	f.Latency = max(f.Latency, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	clear(s.buckets)
}

// Answer is one scripted reply, queued with Script.
//
// Exactly one behaviour applies, in this order of precedence: Pass with
// Drop runs the real action and then closes the connection without an
// answer (the effect took place but the answer was lost); Drop alone closes
// the connection without running the action; Pass lets the real handler
// answer; Raw answers Status (default 502) with that non-JSON body; Code
// answers Status (default 400) with a JSON error; a 2xx Status alone
// answers {"RequestId"} without touching any state (a success that did
// nothing); any other Status alone answers a JSON error with code
// "InternalError". An Answer with none of Drop, Raw, Code and Status set
// behaves like Pass.
//
// Delay, in real time, comes first by default, before the action runs, so a
// client that gives up during it leaves no effect behind. With DelayAfter,
// an Answer that runs the real action (Pass, or one that behaves like it)
// runs it at once and waits Delay afterwards, before answering or, with
// Drop, closing the connection: a client whose timeout fires during the
// wait sees no answer although the action took effect. For an Answer that
// runs no action DelayAfter changes nothing.
type Answer struct {
	Status        int
	Code, Message string
	Delay         time.Duration
	Drop          bool
	Raw           string
	Pass          bool
	DelayAfter    bool
}

// Script queues answers for the next requests whose ImageId names imageID,
// whatever the action, consumed one per request in order. Scripted requests
// skip Faults, so a script is exact even while faults are on.
func (s *Server) Script(imageID string, answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[imageID] = append(s.scripts[imageID], answers...)
}

func (s *Server) play(w http.ResponseWriter, r *http.Request, reqID string, p map[string]string, a Answer) {
	acts := a.Pass || (!a.Drop && a.Raw == "" && a.Code == "" && a.Status == 0)
	if !(acts && a.DelayAfter) && !pause(r, a.Delay) {
		return
	}
	region := p["RegionId"]
	switch {
	case acts:
		body, aerr := s.act(reqID, p)
		if a.DelayAfter && !pause(r, a.Delay) {
			return // the client gave up; the action took effect all the same
		}
		if a.Drop {
			drop(w)
			return
		}
		reply(w, reqID, region, body, aerr)
	case a.Drop:
		drop(w)
	case a.Raw != "":
		writeRaw(w, orDefault(a.Status, http.StatusBadGateway), a.Raw)
	case a.Code != "":
		msg := a.Message
		if msg == "" {
			msg = "Scripted answer."
		}
		writeError(w, reqID, region, errorf(orDefault(a.Status, http.StatusBadRequest), a.Code, "%s", msg))
	case a.Status >= 200 && a.Status < 300:
		writeJSON(w, a.Status, reqID, struct{ RequestId string }{reqID})
	default:
		writeError(w, reqID, region, &apiError{Status: a.Status, Code: CodeInternalError, Message: "Scripted answer."})
	}
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

type verdict int

const (
	verdictPass verdict = iota
	verdictThrottle
	verdictDrop
	verdictInternal
	verdictUnavailable
	verdictBadGateway
)

// decide draws the fault for one request. Throttling is checked before the
// random faults so that dropped and failed requests still use up tokens, as
// they do at a real gateway that counts requests on arrival.
func (s *Server) decide(action, region string) (verdict, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	if f.ThrottleQPS > 0 {
		k := callKey{action, region}
		b := s.buckets[k]
		if b == nil {
			burst := f.ThrottleBurst
			if burst == 0 {
				burst = int(math.Ceil(f.ThrottleQPS))
			}
			b = &bucket{tokens: float64(burst), burst: float64(burst), last: s.now()}
			s.buckets[k] = b
		}
		if !b.take(s.now(), f.ThrottleQPS) {
			return verdictThrottle, f.Latency
		}
	}
	switch {
	case f.DropRate > 0 && s.rng.Float64() < f.DropRate:
		return verdictDrop, f.Latency
	case f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate:
		if s.rng.IntN(2) == 0 {
			return verdictInternal, f.Latency
		}
		return verdictUnavailable, f.Latency
	case f.RawErrorRate > 0 && s.rng.Float64() < f.RawErrorRate:
		return verdictBadGateway, f.Latency
	}
	return verdictPass, f.Latency
}

type bucket struct {
	tokens, burst float64
	last          time.Time
}

func (b *bucket) take(now time.Time, qps float64) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*qps)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

const badGatewayBody = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
	"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n"

// pause waits d in real time; it reports false when the client went away,
// in which case nothing should be written.
func pause(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// drop closes the connection without an answer. Hijacking closes it at
// once; where hijacking is impossible (HTTP/2, recorders) the abort panic
// makes net/http reset the stream instead.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
