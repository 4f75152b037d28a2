package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/copyguard/copyguard/worker"
)

// Handler is one of the worker's message handlers.
type Handler func(ctx context.Context, m worker.Msg) worker.Verdict

// ConsumeConfig tunes one consumer loop.
type ConsumeConfig struct {
	Name    string // for logs
	Workers int    // handlers at once
	// Prefetch is how many messages the client pulls ahead of the
	// handlers (default Workers). A prefetched message's AckWait is
	// already running but nobody heartbeats it yet (nats.md §2 pitfall):
	// keep it small where handlers are slow, or live replicas' messages
	// are handed to another replica while they wait.
	Prefetch int
	// Heartbeat is how often a running handler tells the server the message
	// is in progress. Zero: a fifth of the consumer's AckWait (1s for
	// DefaultAckWait). Keep it well under AckWait.
	Heartbeat time.Duration
	Logger    *zap.Logger
}

// Consumption is a running Consume, like jetstream.ConsumeContext: Drain
// or Stop it, then wait for Closed.
type Consumption struct {
	it       jetstream.MessagesContext
	cancel   context.CancelFunc // ends the handlers' context
	stopping atomic.Bool        // Drain or Stop was called
	drain    sync.Once
	closed   chan struct{}
	err      error // set before closed is closed
}

// Consume feeds messages of a durable consumer to h with cfg.Workers
// handlers at once, and settles each as h says, until Drain or Stop.
// Handlers get a context that ends only on Stop, so a graceful stop can
// give in-flight work a bounded time. If the consumer stops on its own (it
// was deleted), the running handlers finish, Closed is closed and Err says
// why.
func Consume(cons jetstream.Consumer, cfg ConsumeConfig, h Handler) (*Consumption, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = heartbeatFor(ackWaitOf(cons))
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Prefetch <= 0 || cfg.Prefetch > cfg.Workers {
		cfg.Prefetch = cfg.Workers
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.Prefetch),
		jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithCancel(context.Background())
	c := &Consumption{it: it, cancel: cancel, closed: make(chan struct{})}
	go c.run(hctx, it, cfg, h, log)
	return c, nil
}

// Drain stops pulling new messages and lets the prefetched ones and the
// running handlers finish; Closed is closed when they have.
func (c *Consumption) Drain() {
	c.stopping.Store(true)
	c.drain.Do(c.it.Drain)
}

// Stop stops pulling new messages and ends the handlers' context, so
// running handlers give their messages back; messages already prefetched
// reach a handler with that context already ended. Closed is closed when
// the handlers have returned. Stop after Drain cuts the drain short.
func (c *Consumption) Stop() {
	c.Drain()
	c.cancel()
}

// Closed is closed once the consumption has ended and every handler has
// returned.
func (c *Consumption) Closed() <-chan struct{} { return c.closed }

// Err reports, once Closed is closed, why the consumption ended: nil after
// Drain or Stop, an error when the consumer stopped on its own (for
// example because it was deleted). Before that it returns nil.
func (c *Consumption) Err() error {
	select {
	case <-c.closed:
		return c.err
	default:
		return nil
	}
}

func (c *Consumption) run(hctx context.Context, it jetstream.MessagesContext, cfg ConsumeConfig, h Handler, log *zap.Logger) {
	defer close(c.closed)
	defer c.cancel()
	hb := newHeartbeat(cfg.Heartbeat)
	defer hb.stop()
	msgs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for m := range msgs {
				handle(hctx, m, h, log)
				hb.remove(m)
			}
		})
	}
	// The iterator closing when nobody asked is a terminal error such as a
	// deleted consumer. Reporting nil then would look like a clean stop
	// while nothing consumes any more.
	var last error
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				if !c.stopping.Load() {
					c.err = fmt.Errorf("message iterator stopped: %w", errors.Join(last, err))
				}
				break
			}
			last = err
			log.Warn("consumer", zap.String("consumer", cfg.Name), zap.Error(err))
			continue
		}
		// Heartbeat from here, not from the handler: the message may wait
		// for a free handler, and its AckWait runs meanwhile.
		hb.add(m)
		msgs <- m
	}
	close(msgs)
	wg.Wait()
}

// ackWaitOf is the consumer's AckWait as last read from the server, or the
// server's default when unknown.
func ackWaitOf(cons jetstream.Consumer) time.Duration {
	if info := cons.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		return info.Config.AckWait
	}
	return DefaultAckWait
}

func handle(ctx context.Context, m jetstream.Msg, h Handler, log *zap.Logger) {
	delivered := 1
	if md, err := m.Metadata(); err == nil {
		delivered = int(md.NumDelivered)
	}
	v := h(ctx, worker.Msg{Subject: m.Subject(), Data: m.Data(), Delivered: delivered, InProgress: func() { _ = m.InProgress() },
		Traceparent: m.Headers().Get(worker.TraceparentHeader)})
	var err error
	switch v.Kind {
	case worker.Ack:
		err = m.Ack()
	case worker.Nak:
		err = m.NakWithDelay(v.Delay)
	case worker.Term:
		err = m.TermWithReason(v.Reason)
	}
	if err != nil {
		// The server redelivers after AckWait; the claim makes that harmless.
		log.Warn("settle message", zap.String("subject", m.Subject()), zap.Stringer("verdict", v.Kind), zap.Error(err))
	}
}

// heartbeat tells the server, every interval, that each message still in
// a handler is in progress, so a slow cancel is not redelivered to another
// replica. One ticker per consumer, not one goroutine per message.
type heartbeat struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]struct{}
	done chan struct{}
}

func newHeartbeat(every time.Duration) *heartbeat {
	hb := &heartbeat{msgs: map[jetstream.Msg]struct{}{}, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-hb.done:
				return
			case <-t.C:
				hb.mu.Lock()
				for m := range hb.msgs {
					_ = m.InProgress()
				}
				hb.mu.Unlock()
			}
		}
	}()
	return hb
}

func (hb *heartbeat) add(m jetstream.Msg)    { hb.mu.Lock(); hb.msgs[m] = struct{}{}; hb.mu.Unlock() }
func (hb *heartbeat) remove(m jetstream.Msg) { hb.mu.Lock(); delete(hb.msgs, m); hb.mu.Unlock() }
func (hb *heartbeat) stop()                  { close(hb.done) }
