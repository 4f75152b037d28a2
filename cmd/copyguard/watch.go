package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/internal/eventline"
)

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClientCommand("copyguard watch", false, 5*time.Second, stdout)
	asJSON := c.fs.Bool("json", false, "print each event as one line of JSON")
	all := c.fs.Bool("all", false, "start from the oldest stored event, not from now")
	count := c.fs.Int("count", 0, "stop after this many events (0: follow until interrupted)")
	return c.run(args, nil, func(js jetstream.JetStream) error {
		names := bus.NamesFor(c.prefix)
		deliver := jetstream.DeliverNewPolicy
		if *all {
			deliver = jetstream.DeliverAllPolicy
		}
		// An ordered consumer: no acks, no state left on the server.
		cons, err := js.OrderedConsumer(ctx, names.EventStream, jetstream.OrderedConsumerConfig{DeliverPolicy: deliver})
		if err != nil {
			return fmt.Errorf("watch %s: %w (has a copyguard worker created its streams?)", names.EventStream, err)
		}
		it, err := cons.Messages()
		if err != nil {
			return err
		}
		defer it.Stop()
		defer context.AfterFunc(ctx, it.Stop)()
		for n := 0; *count == 0 || n < *count; n++ {
			m, err := it.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return nil
				}
				return err
			}
			if *asJSON {
				fmt.Fprintf(stdout, "%s\n", strings.TrimSpace(string(m.Data())))
				continue
			}
			fmt.Fprintln(stdout, eventline.Format(m.Subject(), m.Data()))
		}
		return nil
	})
}
