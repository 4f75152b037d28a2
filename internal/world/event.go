package world

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/event"
)

// EventMsg encodes a CloudEvent as a producer sends it: stamped now, on
// subject, with id as its Nats-Msg-Id so that a repeat is dropped.
func EventMsg(subject, typ, source, id string, data any) (*nats.Msg, error) {
	ev, err := event.New(typ, source, id, "", time.Now().UTC(), data)
	if err != nil {
		return nil, err
	}
	body, err := ev.Encode()
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, id)
	return m, nil
}

// Publish sends EventMsg's event to JetStream and waits for its ack.
func (w *World) Publish(ctx context.Context, subject, typ, source, id string, data any) error {
	m, err := EventMsg(subject, typ, source, id, data)
	if err != nil {
		return err
	}
	_, err = w.js.PublishMsg(ctx, m)
	return err
}
