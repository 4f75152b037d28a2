package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/worker"
)

var _ worker.Publisher = bus.Publisher{}

func TestPublisher(t *testing.T) {
	t.Parallel()
	_, js := connect(t)
	topo := setup(t, js, "copyguard", nil)
	p := bus.Publisher{JS: js}
	ctx := ctxT(t)

	for range 2 {
		if err := p.Publish(ctx, "copyguard.result.cancelled", "result:cn-hangzhou.m-1:abc", []byte(`{"n":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if n := streamMsgs(t, topo.Events); n != 1 {
		t.Fatalf("events stream holds %d messages after publishing one id twice, want 1", n)
	}
	msg, err := topo.Events.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get(jetstream.MsgIDHeader) != "result:cn-hangzhou.m-1:abc" || msg.Header.Get("Content-Type") != "application/cloudevents+json" || string(msg.Data) != `{"n":1}` {
		t.Errorf("stored message: header %v data %s", msg.Header, msg.Data)
	}

	if err := p.Publish(ctx, "copyguard.result.cancelled", "result:cn-hangzhou.m-2:abc", []byte(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, topo.Events); n != 2 {
		t.Errorf("events stream holds %d messages after a second id, want 2", n)
	}

	t.Run("no stream for the subject", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := p.Publish(ctx, "elsewhere.result", "x", []byte("{}"))
		if err == nil {
			t.Fatal("publish to a subject no stream stores succeeded")
		}
		// The worker wraps it as "publish <subject>: ..." (worker/trigger.go
		// publishEvent); bus must not add the same words again, or the
		// log says "publish X: publish X: ...".
		if !errors.Is(err, jetstream.ErrNoStreamResponse) || err.Error() != "nats: no response from stream" {
			t.Errorf("error = %q, want jetstream's own %q", err, jetstream.ErrNoStreamResponse)
		}
	})
}
