package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	Workers int    // handlers at once; also the client-side prefetch
	// Heartbeat is how often a running handler tells the server the message
	// is in progress; keep it well under the consumer's AckWait.
	Heartbeat time.Duration
	Logger    *zap.Logger
}

// Consume feeds messages of a durable consumer to h with cfg.Workers
// handlers at once, and settles each as h says. When ctx ends it stops
// pulling, lets the prefetched messages and running handlers finish, and
// returns nil. Handlers get a context that ends only when stop is closed,
// so a graceful stop can give in-flight work a bounded time. If the
// consumer stops on its own (it was deleted), Consume finishes the running
// handlers and returns an error.
func Consume(ctx context.Context, stop <-chan struct{}, cons jetstream.Consumer, cfg ConsumeConfig, h Handler) error {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	// Prefetch no more than the handlers can take: a prefetched message's
	// AckWait is already running (nats.md §2 pitfall).
	// Pull requests expire every 10s with a heartbeat every 5s (defaults:
	// 30s and 15s), so a consumer that vanished while no pull request was
	// waiting is noticed within seconds rather than half a minute.
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.Workers),
		jetstream.PullExpiry(10*time.Second), jetstream.PullHeartbeat(5*time.Second))
	if err != nil {
		return err
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-hctx.Done():
		}
	}()
	loopDone := make(chan struct{})
	defer close(loopDone)
	go func() {
		select {
		case <-ctx.Done():
			it.Drain()
		case <-loopDone:
		}
	}()

	hb := newHeartbeat(cfg.Heartbeat)
	defer hb.stop()
	msgs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range msgs {
				hb.add(m)
				handle(hctx, m, h, log)
				hb.remove(m)
			}
		}()
	}
	// stopped says why the iterator closed when ctx did not end it: a
	// terminal error such as a deleted consumer. Returning nil then would
	// look like a clean stop while nothing consumes any more.
	var stopped, last error
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				if ctx.Err() == nil {
					stopped = fmt.Errorf("message iterator stopped: %w", errors.Join(last, err))
				}
				break
			}
			last = err
			log.Warn("consumer", zap.String("consumer", cfg.Name), zap.Error(err))
			continue
		}
		msgs <- m
	}
	close(msgs)
	wg.Wait()
	return stopped
}

func handle(ctx context.Context, m jetstream.Msg, h Handler, log *zap.Logger) {
	delivered := 1
	if md, err := m.Metadata(); err == nil {
		delivered = int(md.NumDelivered)
	}
	v := h(ctx, worker.Msg{Subject: m.Subject(), Data: m.Data(), Delivered: delivered, InProgress: func() { _ = m.InProgress() }})
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
