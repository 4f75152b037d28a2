package worker

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

// base is what the decider, the actor and the inventory share, as
// Temporal's workers share one base under their pollers and task
// handlers: the config, the logger, the metrics and the ways to publish.
// It is read-only after New, so it has no lock.
type base struct {
	cfg      Config
	subjects event.Subjects
	log      *zap.Logger
	m        *Metrics
	limits   *limiters
	health   *health
	breakers *breakers // per-region circuit breakers (breaker.go)
	labels   *labels   // bounds the metric label values taken from input
}

// publishResult publishes one copy's final result under its
// deterministic id. Every result is final but the ones publishHeldOpen
// sends.
func (b *base) publishResult(ctx context.Context, r event.Result) error {
	return b.publishResultTraced(ctx, r, "")
}

// publishResultTraced publishes a final result with its trigger's
// traceparent ("" for none).
func (b *base) publishResultTraced(ctx context.Context, r event.Result, traceparent string) error {
	r.Final = true
	return b.publishOne(ctx, r, resultMsgID(r), traceparent)
}

// publishHeldOpen publishes a held result that is not final: the cancel
// waits for its region's circuit to close and will end with a final
// result of its own (breaker.go).
func (b *base) publishHeldOpen(ctx context.Context, r event.Result) error {
	r.Outcome, r.Final = string(cloud.OutcomeHeld), false
	return b.publishOne(ctx, r, heldOpenMsgID(r), "")
}

// publishOne publishes result r under id and counts it.
func (b *base) publishOne(ctx context.Context, r event.Result, id, traceparent string) error {
	if err := b.publishEventTraced(ctx, traceparent, b.subjects.Result(r.Outcome), id, event.TypeResult, resultSubject(r), r); err != nil {
		return err
	}
	b.m.Results.WithLabelValues(r.Outcome).Inc()
	return nil
}

// publishEvent wraps data in a CloudEvent whose id is the deterministic
// message id, so the event and its Nats-Msg-Id name the same thing.
func (b *base) publishEvent(ctx context.Context, subject, id, typ, ceSubject string, data any) error {
	return b.publishEventTraced(ctx, "", subject, id, typ, ceSubject, data)
}

// publishEventTraced is publishEvent with a traceparent header when
// traceparent is set and the publisher can send headers (trace.go).
func (b *base) publishEventTraced(ctx context.Context, traceparent, subject, id, typ, ceSubject string, data any) error {
	body, err := event.Marshal(typ, "copyguard/"+b.cfg.Instance, id, ceSubject, b.cfg.Now(), data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	if err := b.publish(ctx, subject, id, body, traceparent); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

// reject publishes unusable input to <prefix>.rejected with the reason and
// acks it: it would fail the same way on every redelivery.
func (b *base) reject(ctx context.Context, m Msg, input string, cause error) Verdict {
	// event.Reject cuts the body on a character boundary and replaces
	// invalid UTF-8, so the notice stays within MaxOriginal once encoded.
	// NATS allows subjects that a CloudEvent attribute does not (longer
	// than 512 bytes, control characters, invalid UTF-8): such a subject is
	// reported in the data, made printable, and left out of the envelope.
	// Published as it came, the notice would be refused, and the message
	// handed back for ever.
	subject := printable(m.Subject)
	ceSubject := subject
	if ceSubject != m.Subject || len(ceSubject) > event.MaxSubjectLen {
		ceSubject = ""
	}
	r := event.Reject(subject, m.Data, cause, b.cfg.Instance, b.cfg.Now())
	if err := b.publishEvent(ctx, b.subjects.Rejected(), rejectedMsgID(m.Subject, m.Data), event.TypeRejected, ceSubject, r); err != nil {
		return retryLater(b.log, m, "publish rejection", err)
	}
	b.m.Rejected.WithLabelValues(input).Inc()
	b.log.Warn("input rejected", zap.String("subject", m.Subject), zap.String("reason", r.Reason))
	return ack()
}

// recoverPanic turns a panic in a handler into a rejection for input, so
// one poison message cannot crash-loop every replica.
func (b *base) recoverPanic(ctx context.Context, m Msg, input string, v *Verdict) {
	if r := recover(); r != nil {
		b.log.Error("handler panic", zap.String("subject", m.Subject), zap.Any("panic", r), zap.Stack("stack"))
		*v = nak(5*time.Second, fmt.Sprint("panic: ", r))
		// The rejection goes through the publisher, which may be what
		// panicked: then the message is handed back instead.
		defer func() { _ = recover() }()
		*v = b.reject(ctx, m, input, fmt.Errorf("internal error while handling this event: %v", r))
	}
}

// printable makes s valid UTF-8 without control characters, at most
// event.MaxSubjectLen bytes long.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
	for len(s) > event.MaxSubjectLen {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
