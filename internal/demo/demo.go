package demo

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/examples"
	"github.com/copyguard/copyguard/internal/app"
	"github.com/copyguard/copyguard/internal/waitfor"
	"github.com/copyguard/copyguard/internal/world"
)

const demoSource = "cn-hangzhou"

var demoRegions = []string{"cn-shanghai", "ap-southeast-1", "eu-central-1", "us-west-1"}

// demoCopy is what the demo knows of one copy it started.
type demoCopy struct {
	region, id, team, name string
	golden                 bool
	discovered             bool // not announced: found by DescribeImages
}

// Options are what copyguard demo can be told.
type Options struct {
	// Log receives the worker's logs; nil: none.
	Log *zap.Logger
	// Keep keeps the world running after the report, until ctx ends, so
	// that copyguard trigger and watch can be tried against it.
	Keep bool
}

// demo runs the whole loop in one process: embedded NATS, the ECS
// simulator on a loopback port, the worker with the example policies, and
// a few triggers, then prints what happened to every copy.
type demo struct {
	out     io.Writer
	world   *world.World
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

// Run runs the demo and writes its story and report to out. It gives up
// after two minutes, unless o.Keep (then only ctx ends it).
func Run(ctx context.Context, o Options, out io.Writer) error {
	limit := 2 * time.Minute
	if o.Keep {
		limit = 100 * 365 * 24 * time.Hour
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	d := &demo{out: out, names: bus.NamesFor(event.DefaultSubjectPrefix), results: map[string]event.Result{}, decisions: map[string][]event.Decision{}, started: time.Now()}
	return d.run(ctx, o)
}

func (d *demo) step(format string, args ...any) {
	fmt.Fprintf(d.out, "\n==> "+format+"\n", args...)
}

func (d *demo) run(ctx context.Context, o Options) error {
	d.step("Starting the ECS API simulator and an embedded NATS server with JetStream")
	w, err := world.New(world.Config{Sim: ecssim.Config{WaitFor: 2 * time.Second, CopyTime: 20 * time.Minute}})
	if err != nil {
		return err
	}
	defer w.Close()
	d.world, d.sim, d.client, d.js = w, w.Sim(), w.Client(), w.JetStream()
	files, err := examplePolicies()
	if err != nil {
		return err
	}
	policyDir, err := w.WritePolicies(files)
	if err != nil {
		return err
	}
	cfg := w.AppConfig("demo-worker")
	cfg.PolicyPaths = []string{policyDir}
	cfg.Regions = demoRegions
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.QPS, cfg.Burst = 20, 2
	if err := d.startCopies(ctx); err != nil {
		return err
	}
	a, err := w.StartApp(ctx, cfg, o.Log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "    simulator: http://%s   nats: %s   metrics: http://%s/metrics\n", w.SimAddr(), a.NATSURL, a.HTTPAddr)
	fmt.Fprintf(d.out, "    policies:  %s (version %s)\n", strings.Join(policyNames(a), ", "), a.Worker.Policies().Version())

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
	d.report()
	if o.Keep {
		fmt.Fprintf(d.out, "\nStill running (--keep). Try:\n  copyguard watch --nats-url %s --all\n", a.NATSURL)
		if c, ok := d.untouched(); ok {
			fmt.Fprintf(d.out, "  copyguard trigger cancel.requested --nats-url %s --data '{\"image_id\":\"%s\",\"region\":\"%s\",\"reason\":\"try\"}'\n",
				a.NATSURL, c.id, c.region)
		}
		fmt.Fprintln(d.out, "Ctrl-C to stop.")
		<-ctx.Done()
	}
	return nil
}

// examplePolicies are the policies under examples/, without their test
// cases, by file name.
func examplePolicies() (map[string]string, error) {
	files := map[string]string{}
	err := fs.WalkDir(examples.Policies, ".", func(p string, e fs.DirEntry, err error) error {
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
		files[path.Base(p)] = string(b)
		return nil
	})
	return files, err
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
	if err := waitfor.Until(ctx, what, time.Hour, 20*time.Millisecond, nil, cond); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// untouched is a copy for the --keep hint to cancel: still in flight in
// the simulator, not golden, and not decided by any trigger of the demo,
// so that the suggested cancel.requested really cancels something.
func (d *demo) untouched() (demoCopy, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.copies {
		if _, decided := d.results[c.region+"/"+c.id]; decided || c.golden {
			continue
		}
		if img, ok := d.sim.Image(c.region, c.id); ok && (img.Status == "Waiting" || img.Status == "Creating") {
			return c, true
		}
	}
	return demoCopy{}, false
}
