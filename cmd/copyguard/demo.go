package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/examples"
	"github.com/copyguard/copyguard/internal/app"
)

const (
	demoKey    = "demo-access-key"
	demoSecret = "demo-access-secret"
	demoSource = "cn-hangzhou"
)

var demoRegions = []string{"cn-shanghai", "ap-southeast-1", "eu-central-1", "us-west-1"}

// demoCopy is what the demo knows of one copy it started.
type demoCopy struct {
	region, id, team, name string
	golden                 bool
	discovered             bool // not announced: found by DescribeImages
}

// demo runs the whole loop in one process: embedded NATS, the ECS
// simulator on a loopback port, the worker with the example policies, and
// a few triggers, then prints what happened to every copy.
type demo struct {
	out     io.Writer
	verbose bool
	sim     *ecssim.Server
	client  *ecs.Client
	js      jetstream.JetStream
	names   bus.Names
	copies  []demoCopy
	sources []string // source images in demoSource
	started time.Time

	mu        sync.Mutex
	results   map[string]event.Result // by region/image
	decisions map[string][]event.Decision
	rejected  []event.Rejected
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("copyguard demo", flag.ContinueOnError)
	fset.SetOutput(stderr)
	verbose := fset.Bool("v", false, "show the worker's logs")
	keep := fset.Bool("keep", false, "keep running after the report, so you can try copyguard trigger / watch against it")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	// The demo gives up after two minutes, unless asked to keep running
	// (then only a signal ends it).
	limit := 2 * time.Minute
	if *keep {
		limit = 100 * 365 * 24 * time.Hour
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	d := &demo{out: stdout, verbose: *verbose, names: bus.NamesFor("copyguard"), results: map[string]event.Result{}, decisions: map[string][]event.Decision{}, started: time.Now()}
	return d.run(ctx, stderr, *keep)
}

func (d *demo) step(format string, args ...any) {
	fmt.Fprintf(d.out, "\n==> "+format+"\n", args...)
}

func (d *demo) run(ctx context.Context, stderr io.Writer, keep bool) error {
	dir, err := os.MkdirTemp("", "copyguard-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	d.step("Starting the ECS API simulator and an embedded NATS server with JetStream")
	simAddr, stopSim, err := d.startSim()
	if err != nil {
		return err
	}
	defer stopSim()
	policyDir := filepath.Join(dir, "policies")
	if err := writePolicies(policyDir); err != nil {
		return err
	}
	cfg := app.Defaults()
	cfg.PolicyPaths = []string{policyDir}
	cfg.DataDir, cfg.NATSPort = filepath.Join(dir, "nats"), -1
	cfg.ECSEndpoint, cfg.ECSInsecure = simAddr, true
	cfg.ECSAccessKeyID, cfg.ECSAccessKeySecret = demoKey, demoSecret
	cfg.Regions = demoRegions
	cfg.HTTPAddr, cfg.InstanceID = "127.0.0.1:0", "demo-worker"
	cfg.QPS, cfg.Burst = 20, 2
	cfg.ShutdownTimeout = 5 * time.Second
	log := zap.NewNop()
	if d.verbose {
		if log, err = newLogger("console", "info", stderr); err != nil {
			return err
		}
	}
	d.client, err = ecs.New(ecs.Config{Endpoint: simAddr, Insecure: true, AccessKeyID: demoKey, AccessKeySecret: demoSecret})
	if err != nil {
		return err
	}
	defer d.client.Close()
	if err := d.startCopies(ctx); err != nil {
		return err
	}
	a, err := app.Start(ctx, cfg, log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer a.Stop()
	fmt.Fprintf(d.out, "    simulator: http://%s   nats: %s   metrics: http://%s/metrics\n", simAddr, a.NATSURL, a.HTTPAddr)
	fmt.Fprintf(d.out, "    policies:  %s (version %s)\n", strings.Join(policyNames(a), ", "), a.Worker.Policies().Version())

	nc, err := nats.Connect(a.NATSURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	if d.js, err = jetstream.New(nc); err != nil {
		return err
	}
	if err := d.follow(ctx); err != nil {
		return err
	}
	if err := d.announce(ctx); err != nil {
		return err
	}
	want := len(d.copies)
	if err := d.waitUntil(ctx, fmt.Sprintf("%d copies in the inventory", want), func() bool { return a.Worker.Inventory().Len() == want }); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "    inventory: %d copies in flight (%d announced by copy.started, %d discovered with DescribeImages)\n",
		want, want-countDiscovered(d.copies), countDiscovered(d.copies))

	if err := d.fire(ctx); err != nil {
		return err
	}
	d.report(a)
	if keep {
		fmt.Fprintf(d.out, "\nStill running (--keep). Try:\n  copyguard watch --nats-url %s --all\n  copyguard trigger cancel.requested --nats-url %s --data '{\"image_id\":\"%s\",\"region\":\"%s\",\"reason\":\"try\"}'\nCtrl-C to stop.\n",
			a.NATSURL, a.NATSURL, d.copies[len(d.copies)-1].id, d.copies[len(d.copies)-1].region)
		<-ctx.Done()
	}
	return nil
}

func (d *demo) startSim() (string, func(), error) {
	d.sim = ecssim.New(ecssim.Config{Keys: map[string]string{demoKey: demoSecret}, WaitFor: 2 * time.Second, CopyTime: 20 * time.Minute})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: d.sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func writePolicies(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(examples.Policies, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if strings.Contains(p, "_test.") || strings.Contains(p, ".test.") {
			return nil // policy test cases, not policies
		}
		b, err := fs.ReadFile(examples.Policies, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
	})
}

func policyNames(a *app.App) []string {
	var names []string
	for _, p := range a.Worker.Policies().Policies() {
		names = append(names, p.Name)
	}
	return names
}

func countDiscovered(cs []demoCopy) int {
	n := 0
	for _, c := range cs {
		if c.discovered {
			n++
		}
	}
	return n
}

// waitUntil polls cond every 20ms until it holds or ctx ends.
func (d *demo) waitUntil(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: gave up waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
