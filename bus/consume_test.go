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

// consume starts bus.Consume and drains it at cleanup.
func consume(t *testing.T, cons jetstream.Consumer, cfg bus.ConsumeConfig, h bus.Handler) *bus.Consumption {
	t.Helper()
	c, err := bus.Consume(cons, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Drain()
		if !closedWithin(c, 10*time.Second) {
			t.Error("Consume did not close after Drain")
		}
	})
	return c
}

// closedWithin says whether c closes within d.
func closedWithin(c *bus.Consumption, d time.Duration) bool {
	select {
	case <-c.Closed():
		return true
	case <-time.After(d):
		return false
	}
}

// drain drains c, waits for it to close and returns its Err.
func drain(t *testing.T, c *bus.Consumption) error {
	t.Helper()
	c.Drain()
	if !closedWithin(c, 10*time.Second) {
		t.Fatal("Consume did not close after Drain")
	}
	return c.Err()
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
	c := consume(t, cons, bus.ConsumeConfig{Name: "jobs", Workers: 2, Heartbeat: time.Second}, h)

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
	if err := drain(t, c); err != nil {
		t.Errorf("Err() after Drain = %v", err)
	}
}

// TestConsumeHeartbeat holds a message three times the consumer's
// AckWait: the heartbeat, set or derived from the AckWait, must keep the
// server from redelivering it.
func TestConsumeHeartbeat(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		heartbeat time.Duration
	}{{"set", 200 * time.Millisecond}, {"a fifth of AckWait", 0}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testConsumeHeartbeat(t, tt.heartbeat)
		})
	}
}

func testConsumeHeartbeat(t *testing.T, heartbeat time.Duration) {
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
	consume(t, cons, bus.ConsumeConfig{Name: "jobs", Workers: 2, Heartbeat: heartbeat}, h)

	natstest.WaitFor(t, "the slow message to be acked", 10*time.Second, func() bool {
		return len(got.of("slow")) > 0 && streamMsgs(t, stream) == 0 && pendingAcks(t, cons) == 0
	})
	if d := got.of("slow"); len(d) != 1 || d[0].delivered != 1 {
		t.Errorf("deliveries = %+v, want exactly one", d)
	}
}

// TestConsumeDrains drains while a handler runs: Closed waits for it, the
// handler's context is not cut, and its verdict lands.
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
	c := consume(t, cons, bus.ConsumeConfig{Name: "jobs", Workers: 1}, h)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler never started")
	}

	c.Drain()
	if closedWithin(c, 300*time.Millisecond) {
		t.Fatal("Consume closed while a handler was still running")
	}
	close(release)
	if !closedWithin(c, 10*time.Second) {
		t.Fatal("Consume did not close after the handler finished")
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err() after Drain = %v", err)
	}
	if cut, _ := ctxErr.Load().(bool); cut {
		t.Error("the handler's context ended with the consumer's: in-flight work was cut")
	}
	// Ack is fire-and-forget: the server applies it a moment later.
	natstest.WaitFor(t, "the in-flight message's ack", 5*time.Second, func() bool { return streamMsgs(t, stream) == 0 })
}

// TestConsumeStop stops a consumption with a handler running, after a
// Drain as a shutdown whose grace period ran out does, or at once: the
// running handler sees its context end, and its nak lands.
func TestConsumeStop(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		drainFirst bool
	}{{"after drain", true}, {"at once", false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testConsumeStop(t, tt.drainFirst)
		})
	}
}

func testConsumeStop(t *testing.T, drainFirst bool) {
	js, stream, cons := jobs(t, 30*time.Second)
	started := make(chan struct{})
	var once sync.Once
	h := func(ctx context.Context, m worker.Msg) worker.Verdict {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return worker.Verdict{Kind: worker.Nak, Delay: time.Minute, Reason: "shutting down"}
	}
	publish(t, js, "copyguard.job.cn-hangzhou", "held")
	c := consume(t, cons, bus.ConsumeConfig{Name: "jobs", Workers: 1}, h)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler never started")
	}
	if drainFirst {
		c.Drain()
		if closedWithin(c, 100*time.Millisecond) {
			t.Fatal("Consume closed on Drain while the handler waited for its context")
		}
	}
	c.Stop()
	if !closedWithin(c, 10*time.Second) {
		t.Fatal("Consume did not close after Stop")
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err() after Stop = %v", err)
	}
	c.Stop() // twice is fine
	c.Drain()
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
	consume(t, cons, bus.ConsumeConfig{Name: "jobs", Workers: workers}, h)
	natstest.WaitFor(t, "all messages acked", 15*time.Second, func() bool { return streamMsgs(t, stream) == 0 })
	if p := peak.Load(); p != workers {
		t.Errorf("at most %d handlers ran at once, want %d", p, workers)
	}
}

// TestConsumeConsumerDeleted deletes the durable consumer under a running
// loop: Err must say so instead of closing as if it had been stopped.
func TestConsumeConsumerDeleted(t *testing.T) {
	t.Parallel()
	js, stream, cons := jobs(t, 30*time.Second)
	var got deliveries
	h := func(ctx context.Context, m worker.Msg) worker.Verdict {
		got.add(delivery{data: string(m.Data), delivered: m.Delivered, start: time.Now()})
		return worker.Verdict{Kind: worker.Ack}
	}
	publish(t, js, "copyguard.job.cn-hangzhou", "first")
	c := consume(t, cons, bus.ConsumeConfig{Name: "jobs", Workers: 1}, h)
	natstest.WaitFor(t, "the first message", 10*time.Second, func() bool { return len(got.of("first")) == 1 })

	if err := stream.DeleteConsumer(ctxT(t), "jobs"); err != nil {
		t.Fatal(err)
	}
	// A pull request waiting at the delete gets a 409 at once; otherwise
	// the next pull (every 10s at most, heartbeat 5s) finds the consumer
	// gone. 30s leaves room for a loaded machine.
	if !closedWithin(c, 30*time.Second) {
		t.Fatal("Consume kept running on a deleted consumer")
	}
	if err := c.Err(); err == nil || !errors.Is(err, jetstream.ErrConsumerDeleted) {
		t.Errorf("Err() = %v, want an error saying the consumer was deleted", err)
	}
}
