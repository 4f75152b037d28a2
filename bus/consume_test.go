package bus_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/worker"
)

// delivery is one call of a handler.
type delivery struct {
	subject, data string
	delivered     int
	start         time.Time
}

type deliveries struct {
	mu  sync.Mutex
	all []delivery
}

func (d *deliveries) add(x delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.all = append(d.all, x)
}

// of returns the deliveries of the message with that data.
func (d *deliveries) of(data string) []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []delivery
	for _, x := range d.all {
		if x.data == data {
			out = append(out, x)
		}
	}
	return out
}

// jobs sets up a topology with cfg's AckWait and returns the job stream
// and its durable consumer.
func jobs(t *testing.T, ackWait time.Duration) (jetstream.JetStream, jetstream.Stream, jetstream.Consumer) {
	t.Helper()
	_, js := connect(t)
	cfg := bus.DefaultTopology()
	cfg.AckWait = ackWait
	topo := setup(t, js, "copyguard", &cfg)
	cons, err := topo.Jobs.Consumer(ctxT(t), topo.Names.JobConsumer)
	if err != nil {
		t.Fatal(err)
	}
	return js, topo.Jobs, cons
}

func publish(t *testing.T, js jetstream.JetStream, subject string, data ...string) {
	t.Helper()
	for _, d := range data {
		if _, err := js.Publish(ctxT(t), subject, []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
}

// consume runs bus.Consume in the background. stop cancels its context,
// waits for it to return and gives what it returned; done is closed when
// it has returned.
func consume(t *testing.T, ctx context.Context, stopCh <-chan struct{}, cons jetstream.Consumer, cfg bus.ConsumeConfig, h bus.Handler) (stop func() error, done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	finished := make(chan struct{})
	var err error
	go func() {
		defer close(finished)
		err = bus.Consume(ctx, stopCh, cons, cfg, h)
	}()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case <-finished:
			return err
		case <-time.After(10 * time.Second):
			t.Error("Consume did not return after its context ended")
			return nil
		}
	})
	t.Cleanup(func() { _ = stop() })
	return stop, finished
}

func pendingAcks(t *testing.T, cons jetstream.Consumer) int {
	t.Helper()
	info, err := cons.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.NumAckPending
}

func TestConsumeVerdicts(t *testing.T) {
	t.Parallel()
	js, stream, cons := jobs(t, 30*time.Second)
	const nakDelay = 700 * time.Millisecond
	var got deliveries
	h := func(ctx context.Context, m worker.Msg) worker.Verdict {
		if m.InProgress == nil {
			t.Error("Msg.InProgress is nil")
		} else {
			m.InProgress()
		}
		got.add(delivery{subject: m.Subject, data: string(m.Data), delivered: m.Delivered, start: time.Now()})
		switch string(m.Data) {
		case "nak":
			if m.Delivered == 1 {
				return worker.Verdict{Kind: worker.Nak, Delay: nakDelay, Reason: "later"}
			}
		case "term":
			return worker.Verdict{Kind: worker.Term, Reason: "poison"}
		}
		return worker.Verdict{Kind: worker.Ack}
	}
	publish(t, js, "copyguard.job.cn-hangzhou", "ack", "nak", "term")
	stop, _ := consume(t, ctxT(t), nil, cons, bus.ConsumeConfig{Name: "jobs", Workers: 2, Heartbeat: time.Second}, h)

	natstest.WaitFor(t, "the work queue to empty", 10*time.Second, func() bool {
		return streamMsgs(t, stream) == 0 && pendingAcks(t, cons) == 0
	})

	t.Run("ack removes the message", func(t *testing.T) {
		d := got.of("ack")
		if len(d) != 1 || d[0].delivered != 1 || d[0].subject != "copyguard.job.cn-hangzhou" {
			t.Errorf("deliveries = %+v, want one", d)
		}
	})
	t.Run("nak with delay redelivers after the delay", func(t *testing.T) {
		d := got.of("nak")
		if len(d) != 2 || d[0].delivered != 1 || d[1].delivered != 2 {
			t.Fatalf("deliveries = %+v, want two, the second with Delivered=2", d)
		}
		if gap := d[1].start.Sub(d[0].start); gap < nakDelay-100*time.Millisecond {
			t.Errorf("redelivered after %v, want about %v", gap, nakDelay)
		}
	})
	t.Run("term never redelivers", func(t *testing.T) {
		// The stream is empty, so nothing is left to redeliver.
		if d := got.of("term"); len(d) != 1 {
			t.Errorf("deliveries = %+v, want one", d)
		}
	})
	if err := stop(); err != nil {
		t.Errorf("Consume = %v", err)
	}
}

// TestConsumeHeartbeat holds a message three times the consumer's
// AckWait: the heartbeat must keep the server from redelivering it.
func TestConsumeHeartbeat(t *testing.T) {
	t.Parallel()
	js, stream, cons := jobs(t, time.Second)
	var got deliveries
	h := func(ctx context.Context, m worker.Msg) worker.Verdict {
		// Recorded on arrival: a redelivery shows up while the first still runs.
		got.add(delivery{data: string(m.Data), delivered: m.Delivered, start: time.Now()})
		select { // a slow CancelCopyImage
		case <-time.After(3 * time.Second):
		case <-ctx.Done():
		}
		return worker.Verdict{Kind: worker.Ack}
	}
	publish(t, js, "copyguard.job.cn-hangzhou", "slow")
	// Two workers, so a redelivery would be taken while the first still runs.
	consume(t, ctxT(t), nil, cons, bus.ConsumeConfig{Name: "jobs", Workers: 2, Heartbeat: 200 * time.Millisecond}, h)

	natstest.WaitFor(t, "the slow message to be acked", 10*time.Second, func() bool {
		return len(got.of("slow")) > 0 && streamMsgs(t, stream) == 0 && pendingAcks(t, cons) == 0
	})
	if d := got.of("slow"); len(d) != 1 || d[0].delivered != 1 {
		t.Errorf("deliveries = %+v, want exactly one", d)
	}
}

// TestConsumeDrains cancels the context while a handler runs: Consume
// waits for it, the handler's context is not cut, and its verdict lands.
func TestConsumeDrains(t *testing.T) {
	t.Parallel()
	js, stream, cons := jobs(t, 30*time.Second)
	started, release := make(chan struct{}), make(chan struct{})
	var ctxErr atomic.Value
	h := func(ctx context.Context, m worker.Msg) worker.Verdict {
		close(started)
		<-release
		ctxErr.Store(ctx.Err() != nil)
		return worker.Verdict{Kind: worker.Ack}
	}
	publish(t, js, "copyguard.job.cn-hangzhou", "held")
	ctx, cancel := context.WithCancel(ctxT(t))
	stop, done := consume(t, ctx, make(chan struct{}), cons, bus.ConsumeConfig{Name: "jobs", Workers: 1}, h)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler never started")
	}

	cancel()
	select {
	case <-done:
		t.Fatal("Consume returned while a handler was still running")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case <-done:
		if err := stop(); err != nil {
			t.Errorf("Consume = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return after the handler finished")
	}
	if cut, _ := ctxErr.Load().(bool); cut {
		t.Error("the handler's context ended with the consumer's: in-flight work was cut")
	}
	// Ack is fire-and-forget: the server applies it a moment later.
	natstest.WaitFor(t, "the in-flight message's ack", 5*time.Second, func() bool { return streamMsgs(t, stream) == 0 })
}

// TestConsumeStop ends the context and then closes stop, as a shutdown
// whose grace period ran out does: running handlers see their context end.
func TestConsumeStop(t *testing.T) {
	t.Parallel()
	js, stream, cons := jobs(t, 30*time.Second)
	started := make(chan struct{})
	var once sync.Once
	h := func(ctx context.Context, m worker.Msg) worker.Verdict {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return worker.Verdict{Kind: worker.Nak, Delay: time.Minute, Reason: "shutting down"}
	}
	publish(t, js, "copyguard.job.cn-hangzhou", "held")
	stopCh := make(chan struct{})
	ctx, cancel := context.WithCancel(ctxT(t))
	stop, done := consume(t, ctx, stopCh, cons, bus.ConsumeConfig{Name: "jobs", Workers: 1}, h)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler never started")
	}
	cancel()
	close(stopCh)
	select {
	case <-done:
		if err := stop(); err != nil {
			t.Errorf("Consume = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return after stop")
	}
	if n := streamMsgs(t, stream); n != 1 {
		t.Errorf("stream holds %d messages, want the nak'd one kept", n)
	}
}

// TestConsumeWorkers checks that Workers handlers run at once.
func TestConsumeWorkers(t *testing.T) {
	t.Parallel()
	js, stream, cons := jobs(t, 30*time.Second)
	const workers = 3
	var running, peak atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	h := func(ctx context.Context, m worker.Msg) worker.Verdict {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n == workers {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
		return worker.Verdict{Kind: worker.Ack}
	}
	publish(t, js, "copyguard.job.cn-hangzhou", "1", "2", "3", "4", "5", "6")
	consume(t, ctxT(t), nil, cons, bus.ConsumeConfig{Name: "jobs", Workers: workers}, h)
	natstest.WaitFor(t, "all messages acked", 15*time.Second, func() bool { return streamMsgs(t, stream) == 0 })
	if p := peak.Load(); p != workers {
		t.Errorf("at most %d handlers ran at once, want %d", p, workers)
	}
}

// TestConsumeConsumerDeleted deletes the durable consumer under a running
// loop: Consume must say so instead of returning as if it had been stopped.
func TestConsumeConsumerDeleted(t *testing.T) {
	t.Parallel()
	js, stream, cons := jobs(t, 30*time.Second)
	var got deliveries
	h := func(ctx context.Context, m worker.Msg) worker.Verdict {
		got.add(delivery{data: string(m.Data), delivered: m.Delivered, start: time.Now()})
		return worker.Verdict{Kind: worker.Ack}
	}
	publish(t, js, "copyguard.job.cn-hangzhou", "first")
	stop, done := consume(t, ctxT(t), nil, cons, bus.ConsumeConfig{Name: "jobs", Workers: 1}, h)
	natstest.WaitFor(t, "the first message", 10*time.Second, func() bool { return len(got.of("first")) == 1 })

	if err := stream.DeleteConsumer(ctxT(t), "jobs"); err != nil {
		t.Fatal(err)
	}
	// A pull request waiting at the delete gets a 409 at once; otherwise
	// the next pull (every 10s at most, heartbeat 5s) finds the consumer
	// gone. 30s leaves room for a loaded machine.
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Consume kept running on a deleted consumer")
	}
	if err := stop(); err == nil || !errors.Is(err, jetstream.ErrConsumerDeleted) {
		t.Errorf("Consume = %v, want an error saying the consumer was deleted", err)
	}
}
