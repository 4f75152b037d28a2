package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/copyguard/copyguard/internal/bench"
)

func parseBenchFlags(args []string, stdout, stderr io.Writer) (*bench.Options, error) {
	o := bench.DefaultOptions()
	fs := flag.NewFlagSet("copyguard bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: copyguard bench [flags]\n\n"+
			"Measures the speed figures of the README (section Speed) on this machine with real parts: an embedded nats-server\n"+
			"with JetStream, the ECS simulator on a loopback listener, the real SDK client and the\n"+
			"real worker (the fleet scenario: copyguard run processes). Each scenario gets a fresh world.\n"+
			"A missed target prints FAIL but exits 0; "+
			"a scenario that could not run exits 1.\n\nflags:\n")
		fs.PrintDefaults()
	}
	all := strings.Join(bench.Scenarios(), ",")
	scenarios := fs.String("scenarios", all, "comma-separated scenarios to run: "+strings.Join(bench.Scenarios(), ", "))
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "show the worker's logs (info level, on stderr)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file`")
	fs.StringVar(&o.MemProfile, "memprofile", "", "memory: write a heap profile with the inventory loaded to `file`")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "give up after this long")
	fs.IntVar(&o.TriggerWorkers, "trigger-workers", o.TriggerWorkers, "the worker's --trigger-workers")
	fs.IntVar(&o.JobWorkers, "job-workers", o.JobWorkers, "the worker's --job-workers")
	fs.IntVar(&o.LatencyN, "latency-n", o.LatencyN, "latency: triggers measured, one at a time")
	fs.IntVar(&o.LatencyWarmup, "latency-warmup", o.LatencyWarmup, "latency: triggers sent first and not measured (connections, first allocations)")
	fs.IntVar(&o.FanoutN, "fanout-n", o.FanoutN, "fan-out: copies one trigger selects")
	fs.IntVar(&o.FanoutRegions, "fanout-regions", o.FanoutRegions, "fan-out: regions the copies are spread over")
	fs.Float64Var(&o.FanoutQPS, "fanout-qps", o.FanoutQPS, "fan-out: calls/s per region the simulator allows, and the worker's --qps")
	fs.IntVar(&o.ThroughputN, "throughput-n", o.ThroughputN, "throughput: copies to cancel")
	fs.IntVar(&o.ThroughputTriggers, "throughput-triggers", o.ThroughputTriggers, "throughput: triggers that select them (an equal share each)")
	fs.IntVar(&o.ThroughputRegions, "throughput-regions", o.ThroughputRegions, "throughput: regions the copies are spread over (at most 14)")
	fs.IntVar(&o.EmptyN, "empty-n", o.EmptyN, "empty: triggers that select nothing")
	fs.IntVar(&o.MemoryN, "memory-n", o.MemoryN, "memory: copies in the inventory")
	fs.DurationVar(&o.MemorySettle, "memory-settle", o.MemorySettle, "memory: idle time before the measurement that counts (nats-server caches written blocks for 10s)")
	fs.IntVar(&o.EvalN, "eval-n", o.EvalN, "eval: copies in the index")
	fs.IntVar(&o.EvalRuns, "eval-runs", o.EvalRuns, "eval: evaluations per trigger")
	fs.IntVar(&o.FleetReplicas, "fleet-replicas", o.FleetReplicas, "fleet: copyguard run processes sharing one budget (one is killed for the takeover figure)")
	fs.IntVar(&o.FleetN, "fleet-n", o.FleetN, "fleet: copies one trigger selects, in each of the two phases")
	fs.IntVar(&o.FleetRegions, "fleet-regions", o.FleetRegions, "fleet: regions the copies are spread over")
	fs.Float64Var(&o.FleetQPS, "fleet-qps", o.FleetQPS, "fleet: calls/s per region the simulator allows, and every replica's --qps")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageErrorf(fs, "bench takes no arguments, got %q", fs.Args())
	}
	var err error
	o.Scenarios, err = bench.ParseScenarios(*scenarios)
	if err := errors.Join(err, o.Validate()); err != nil {
		return nil, usageErrorf(fs, "%v", err)
	}
	if *verbose {
		if o.Log, err = newLogger("console", "info", stderr); err != nil {
			return nil, err
		}
	}
	return &o, nil
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchFlags(args, stdout, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := bench.Run(ctx, *o, stdout, stderr); err != nil {
		if errors.Is(err, bench.ErrScenarioFailed) {
			return exitError(1) // the report says which
		}
		return err
	}
	return nil
}
