package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/internal/world"
)

// TestMain lets the test binary stand in for the copyguard binary, so the
// fault tests run real worker processes without a separate build, and the
// scripts of testdata/script (TestScripts) have it as the command copyguard.
func TestMain(m *testing.M) {
	if os.Getenv("COPYGUARD_TEST_MAIN") == "1" {
		main()
		return
	}
	testscript.Main(m, map[string]func(){"copyguard": main})
}

// proc is a copyguard process started by a test.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, set before done is closed
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "COPYGUARD_TEST_MAIN=1"), env...)
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.out.String())
		}
	})
	return p
}

// TestKillAndRestart: a worker process is killed with SIGKILL in the middle
// of a fan-out; a second process on the same NATS finishes the work. Every
// copy ends with exactly one result, and a copy is called twice only when
// the first call's outcome was unknown at the kill (then NotFound counts
// as cancelled). A SIGTERM then stops the second process cleanly.
func TestKillAndRestart(t *testing.T) {
	w := startWorld(t)
	sim := w.Sim()
	sim.SetFaults(ecssim.Faults{Latency: 40 * time.Millisecond})

	env := []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=run-key", "ALIBABA_CLOUD_ACCESS_KEY_SECRET=run-secret",
		"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true"}
	args := func(id string) []string {
		return []string{"run", "--nats-url", w.NATSURL(), "--policy", "../../internal/app/testdata/policies.yaml",
			"--ecs-endpoint", w.SimAddr(), "--ecs-insecure", "--qps", "40", "--burst", "4",
			"--http-addr", "", "--instance-id", id, "--log-format", "console", "--log-level", "warn", "--shutdown-timeout", "5s"}
	}
	a := startProc(t, env, args("victim")...)

	js, names := w.JetStream(), w.Names()
	ctx := context.Background()
	natstest.WaitFor(t, "the worker's streams", 60*time.Second, func() bool {
		_, err := js.KeyValue(ctx, names.InventoryBucket)
		_, err2 := js.Stream(ctx, names.EventStream)
		return err == nil && err2 == nil
	})
	results := collectResults(t, js, names)

	const n = 80
	var ids []string
	for i := range n {
		id := sim.AddImage(ecssim.Image{ID: fmt.Sprintf("m-kill%05d", i), Region: "cn-shanghai", IsCopied: true, SourceRegion: "cn-hangzhou",
			SourceImageID: "m-src00001", Tags: map[string]string{"cost-center": "k"}, CopyTime: time.Hour})
		ids = append(ids, id)
		publishEvent(t, w, names.CopySubject("started"), "copy.started", "started-"+id, map[string]any{
			"image_id": id, "region": "cn-shanghai", "source_region": "cn-hangzhou", "tags": map[string]string{"cost-center": "k"}})
	}
	inv, _ := js.KeyValue(ctx, names.InventoryBucket)
	natstest.WaitFor(t, "the inventory", 30*time.Second, func() bool {
		st, err := inv.Status(ctx)
		return err == nil && st.Values() == n
	})
	publishEvent(t, w, names.TriggerSubject("budget.exceeded"), "budget.exceeded", "kill-budget", map[string]any{
		"budget": "b", "percent": 150.0, "scope": map[string]any{"tags": map[string]any{"cost-center": "k"}}})
	natstest.WaitFor(t, "a few results", 30*time.Second, func() bool { return results.count() >= 10 })

	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	atKill := sim.TotalCalls("CancelCopyImage")
	if atKill >= n {
		t.Fatalf("the victim finished all %d calls before the kill; the test proves nothing", atKill)
	}

	b := startProc(t, env, args("survivor")...)
	natstest.WaitFor(t, "every copy's result", 90*time.Second, func() bool { return results.count() == n })
	twice := 0
	for _, id := range ids {
		rs := results.get("cn-shanghai/" + id)
		if len(rs) != 1 || rs[0].Outcome != "cancelled" {
			t.Errorf("%s: results %+v", id, rs)
		}
		switch calls := sim.Calls("CancelCopyImage", id); calls {
		case 1:
		case 2:
			twice++
		default:
			t.Errorf("%s: %d calls", id, calls)
		}
	}
	// Only calls on the wire at the kill can be repeated; the worker runs
	// at most 4 at once here (burst 4 at 40/s with 40ms answers).
	if twice > 8 {
		t.Errorf("%d copies were called twice; only those in flight at the kill may be", twice)
	}
	t.Logf("victim made %d calls before SIGKILL; %d copies were called again after it", atKill, twice)

	// Graceful stop: SIGTERM ends the survivor with status 0, promptly.
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.done:
		if b.err != nil {
			t.Errorf("after SIGTERM: %v", b.err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("SIGTERM did not stop the worker within 15s")
	}
}

type resultLog struct {
	mu sync.Mutex
	by map[string][]event.Result
	n  int
}

func (r *resultLog) count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.n }
func (r *resultLog) get(k string) []event.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Result(nil), r.by[k]...)
}

func collectResults(t *testing.T, js jetstream.JetStream, names bus.Names) *resultLog {
	t.Helper()
	rl := &resultLog{by: map[string][]event.Result{}}
	cons, err := js.OrderedConsumer(context.Background(), names.EventStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{names.Prefix + ".result.>"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev struct {
			Data event.Result `json:"data"`
		}
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Errorf("result: %v", err)
			return
		}
		rl.mu.Lock()
		defer rl.mu.Unlock()
		k := ev.Data.Region + "/" + ev.Data.ImageID
		rl.by[k] = append(rl.by[k], ev.Data)
		rl.n++
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return rl
}

// startWorld starts NATS and the simulator (internal/world) for worker
// processes, with the key pair runEnv gives them.
func startWorld(t *testing.T) *world.World {
	t.Helper()
	w, err := world.New(world.Config{Sim: ecssim.Config{Keys: map[string]string{"run-key": "run-secret"}}, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

func publishEvent(t *testing.T, w *world.World, subject, typ, id string, data map[string]any) {
	t.Helper()
	if err := w.Publish(context.Background(), subject, typ, "test", id, data); err != nil {
		t.Fatal(err)
	}
}
