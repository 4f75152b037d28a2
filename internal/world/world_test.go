package world

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
)

// TestWorld: a copy started through the world's SDK client and announced
// on the world's NATS is cancelled by a worker from StartApp, with one
// call; NATS comes back on the same port after StopNATS; Close stops the
// worker and NATS and removes the temp dir.
func TestWorld(t *testing.T) {
	w, err := New(Config{Sim: ecssim.Config{WaitFor: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	dir, err := w.WritePolicies(map[string]string{"p.yaml": `policies:
  - name: operator
    on: [cancel.requested]
    match: copy.image_id == trigger.data.image_id
    action: cancel
`})
	if err != nil {
		t.Fatal(err)
	}
	cfg := w.AppConfig("w1")
	cfg.PolicyPaths = []string{dir}
	a, err := w.StartApp(ctx, cfg, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := w.Sim().AddImage(ecssim.Image{Region: "cn-hangzhou", Name: "base", SizeGB: 20, Status: "Available"})
	id, err := w.Client().CopyImage(ctx, ecs.CopyRequest{SourceRegion: "cn-hangzhou", SourceImageID: src, DestinationRegion: "cn-shanghai", Name: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Publish(ctx, w.Names().CopySubject("started"), "copy.started", "test", "started-"+id, map[string]any{
		"image_id": id, "region": "cn-shanghai", "source_image_id": src, "source_region": "cn-hangzhou"}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the copy in the inventory", func() bool { return a.Worker.Inventory().Len() == 1 })
	if err := w.Publish(ctx, w.Names().TriggerSubject("cancel.requested"), "cancel.requested", "test", "t-1", map[string]any{
		"image_id": id, "region": "cn-shanghai", "reason": "test"}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the cancel", func() bool { return w.Sim().Calls("CancelCopyImage", id) == 1 })

	url := w.NATSURL()
	w.StopNATS()
	if nc, err := nats.Connect(url, nats.Timeout(time.Second)); err == nil {
		nc.Close()
		t.Fatal("NATS still answers after StopNATS")
	}
	if err := w.StartNATS(); err != nil {
		t.Fatal(err)
	}
	if w.NATSURL() != url {
		t.Errorf("NATS came back on %s, want %s", w.NATSURL(), url)
	}
	poll(t, "the world's connection to come back", w.Conn().IsConnected)

	tmp := w.Dir()
	w.Close()
	if a.Ready() == nil {
		t.Error("the worker is still ready after Close")
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temp dir %s after Close: %v", tmp, err)
	}
	w.Close() // twice is fine
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
