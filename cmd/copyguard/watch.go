package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/internal/eventline"
)

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClientCommand("copyguard watch", false, time.Minute, stdout)
	c.fs.Lookup("timeout").Usage = "how long to wait for NATS: to connect, and to reconnect after losing the connection before giving up"
	asJSON := c.fs.Bool("json", false, "print each event as one line of JSON")
	all := c.fs.Bool("all", false, "start from the oldest stored event, not from now")
	count := c.fs.Int("count", 0, "stop after this many events (0: follow until interrupted)")
	lost := newConnWatch(c, stderr)
	return c.run(args, nil, func(js jetstream.JetStream) error {
		defer lost.stop()
		names := bus.NamesFor(c.prefix)
		deliver := jetstream.DeliverNewPolicy
		if *all {
			deliver = jetstream.DeliverAllPolicy
		}
		// An ordered consumer: no acks, no state left on the server. After
		// a reconnect it starts again after the last event it delivered.
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
		lost.onGiveUp(it.Stop)
		for n := 0; *count == 0 || n < *count; n++ {
			m, err := it.Next()
			if err != nil {
				if err := lost.err(); err != nil {
					return err
				}
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

// connWatch tells the user on stderr when watch loses its NATS connection
// and when it has it back, and gives up once it has been without one for
// --timeout: a watch that sits silent after its server is gone looks
// exactly like a quiet fleet.
type connWatch struct {
	c      *clientCommand
	stderr io.Writer

	mu      sync.Mutex
	timer   *time.Timer
	giveUp  func()
	gaveUp  error
	stopped bool
}

func newConnWatch(c *clientCommand, stderr io.Writer) *connWatch {
	w := &connWatch{c: c, stderr: stderr}
	c.opts = append(c.opts,
		nats.MaxReconnects(-1), // --timeout decides when to stop trying
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(w.disconnected),
		nats.ReconnectHandler(w.reconnected))
	return w
}

func (w *connWatch) disconnected(nc *nats.Conn, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || nc.IsClosed() || w.timer != nil {
		return
	}
	cause := ""
	if err != nil {
		cause = ": " + err.Error()
	}
	fmt.Fprintf(w.stderr, "copyguard watch: lost the connection to %s%s; reconnecting (giving up after %v, --timeout)\n",
		bus.RedactURL(w.c.url), cause, w.c.timeout)
	w.timer = time.AfterFunc(w.c.timeout, func() {
		w.mu.Lock()
		w.gaveUp = fmt.Errorf("watch: no connection to nats at %s for %v (--timeout): giving up", bus.RedactURL(w.c.url), w.c.timeout)
		stop := w.giveUp
		w.mu.Unlock()
		if stop != nil {
			stop()
		}
	})
}

func (w *connWatch) reconnected(nc *nats.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer == nil || w.gaveUp != nil {
		return
	}
	w.timer.Stop()
	w.timer = nil
	fmt.Fprintf(w.stderr, "copyguard watch: reconnected to %s\n", nc.ConnectedUrlRedacted())
}

// onGiveUp sets what stops the watch when --timeout runs out.
func (w *connWatch) onGiveUp(f func()) {
	w.mu.Lock()
	w.giveUp = f
	gaveUp := w.gaveUp != nil
	w.mu.Unlock()
	if gaveUp {
		f()
	}
}

// err is the reason the watch gave up, or nil.
func (w *connWatch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gaveUp
}

// stop silences the handlers before the connection is closed on purpose.
func (w *connWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}
