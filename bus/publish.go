package bus

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes to JetStream with a Nats-Msg-Id, waiting for the
// stream's ack: an event is stored (or known to be a duplicate) when
// Publish returns nil.
type Publisher struct{ JS jetstream.JetStream }

// Publish implements worker.Publisher. Its error is JetStream's, not
// wrapped: the caller names the operation ("publish <subject>"), so the
// subject would otherwise appear twice.
func (p Publisher) Publish(ctx context.Context, subject, msgID string, body []byte) error {
	return p.PublishWithHeaders(ctx, subject, msgID, body, nil)
}

// PublishWithHeaders implements worker.HeaderPublisher: Publish with
// extra headers (a traceparent).
func (p Publisher) PublishWithHeaders(ctx context.Context, subject, msgID string, body []byte, headers map[string]string) error {
	m := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	for k, v := range headers {
		m.Header.Set(k, v)
	}
	m.Header.Set("Content-Type", "application/cloudevents+json")
	_, err := p.JS.PublishMsg(ctx, m, jetstream.WithMsgID(msgID))
	return err
}
