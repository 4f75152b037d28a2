package worker

import "context"

// A W3C traceparent (https://www.w3.org/TR/trace-context/) on a trigger's
// NATS message is carried to the trigger's decision and results (SPEC
// §11, Audit): the decider reads it from the message, the claim and the
// job keep it for the actor, and every event published for the trigger
// goes out with it. copyguard makes no spans of its own; it passes the
// header on unchanged, so a tracing backend links the trigger's producer
// with what copyguard published for it.

// TraceparentHeader is the NATS header carrying a W3C traceparent.
const TraceparentHeader = "traceparent"

// validTraceparent reports whether s is a traceparent this worker passes
// on: version-traceid-parentid-flags in lowercase hex, version not ff,
// trace and parent ids not all zeros; version 00 exactly 55 characters,
// a later version at least that and, if longer, "-" after the flags (its
// extra fields are kept as they came).
func validTraceparent(s string) bool {
	if len(s) < 55 || len(s) > 512 {
		return false
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	version, trace, parent, flags := s[0:2], s[3:35], s[36:52], s[53:55]
	for _, part := range []string{version, trace, parent, flags} {
		if !lowerHex(part) {
			return false
		}
	}
	switch {
	case version == "ff", allZeros(trace), allZeros(parent):
		return false
	case version == "00":
		return len(s) == 55
	}
	return len(s) == 55 || s[55] == '-'
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZeros(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// traceOf returns m's traceparent if it is valid, else "" (an invalid one
// is dropped rather than passed on).
func traceOf(m Msg) string {
	if validTraceparent(m.Traceparent) {
		return m.Traceparent
	}
	return ""
}

// publish sends one message, with a traceparent header when there is one
// and the publisher can send headers.
func (b *base) publish(ctx context.Context, subject, msgID string, body []byte, traceparent string) error {
	if hp, ok := b.cfg.Publisher.(HeaderPublisher); ok && traceparent != "" {
		return hp.PublishWithHeaders(ctx, subject, msgID, body, map[string]string{TraceparentHeader: traceparent})
	}
	return b.cfg.Publisher.Publish(ctx, subject, msgID, body)
}
