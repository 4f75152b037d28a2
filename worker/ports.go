package worker

import (
	"context"
	"errors"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// Canceller cancels one image copy. cloud/ecs.Client implements it.
type Canceller interface {
	CancelCopy(ctx context.Context, region, imageID string) (requestID string, err error)
}

// Lister lists the in-flight copies of one region.
type Lister interface {
	ListCopies(ctx context.Context, region string) ([]cloud.Copy, error)
}

// Describer reads copies by id, whatever their status, in one region:
// at most 100 ids a call. A copy absent from the answer no longer exists.
// cloud/ecs.Client implements it; the re-check before a cancel uses it.
type Describer interface {
	DescribeCopies(ctx context.Context, region string, ids []string) ([]cloud.Copy, error)
}

// CancellerFunc adapts a function to Canceller.
type CancellerFunc func(ctx context.Context, region, imageID string) (string, error)

// CancelCopy calls f.
func (f CancellerFunc) CancelCopy(ctx context.Context, region, imageID string) (string, error) {
	return f(ctx, region, imageID)
}

// Publisher publishes one event durably. msgID is the deterministic
// Nats-Msg-Id: publishing the same id twice stores one message.
type Publisher interface {
	Publish(ctx context.Context, subject, msgID string, body []byte) error
}

// HeaderPublisher is a Publisher that can also send NATS headers with a
// message (a W3C traceparent). A Publisher without it publishes every
// message without headers.
type HeaderPublisher interface {
	PublishWithHeaders(ctx context.Context, subject, msgID string, body []byte, headers map[string]string) error
}

// KV is a key-value bucket with compare-and-set, as JetStream KV gives.
type KV interface {
	// Create writes key only if it does not exist; otherwise ErrExists.
	// ttl > 0 expires the key (only where the bucket allows per-key TTL).
	Create(ctx context.Context, key string, val []byte, ttl time.Duration) (rev uint64, err error)
	// Get returns ErrNotFound for a missing or deleted key.
	Get(ctx context.Context, key string) (val []byte, rev uint64, err error)
	// Update writes key only if its revision is still rev; otherwise ErrConflict.
	Update(ctx context.Context, key string, val []byte, rev uint64) (uint64, error)
	Put(ctx context.Context, key string, val []byte) (uint64, error)
	Delete(ctx context.Context, key string) error
}

// Errors a KV implementation returns.
var (
	ErrExists   = errors.New("key exists")
	ErrNotFound = errors.New("key not found")
	ErrConflict = errors.New("revision conflict")
)

// Msg is one message handed to a handler.
type Msg struct {
	Subject string
	Data    []byte
	// Delivered counts deliveries of this message, 1 for the first.
	Delivered int
	// InProgress tells the server the message is still being worked on, so
	// it is not redelivered to another replica. Never nil.
	InProgress func()
	// Traceparent is the message's W3C traceparent header as it came, ""
	// without one; the worker checks its form before passing it on.
	Traceparent string
}

// VerdictKind says how to settle a message.
type VerdictKind int

const (
	Ack  VerdictKind = iota // done
	Nak                     // redeliver after Delay
	Term                    // never redeliver; Reason says why
)

func (k VerdictKind) String() string {
	switch k {
	case Ack:
		return "ack"
	case Nak:
		return "nak"
	case Term:
		return "term"
	}
	return "unknown"
}

// Verdict is a handler's answer.
type Verdict struct {
	Kind   VerdictKind
	Delay  time.Duration
	Reason string
}

func ack() Verdict                            { return Verdict{Kind: Ack} }
func nak(d time.Duration, why string) Verdict { return Verdict{Kind: Nak, Delay: d, Reason: why} }
func term(why string) Verdict                 { return Verdict{Kind: Term, Reason: why} }
