package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/internal/app"
)

// benchScenarios are the SPEC §8.1 figures in the order they run. Memory
// goes first, while the process holds nothing from other scenarios: Go
// and nats-server keep some of what a scenario allocated, and the peak
// RSS (VmHWM) covers the whole life of the process.
var benchScenarios = []string{"memory", "latency", "fanout", "throughput", "empty", "eval"}

// benchOptions are the flags of copyguard bench. The default sizes finish
// the whole bench in about two minutes on a 2-core machine.
type benchOptions struct {
	scenarios  []string
	json       bool
	verbose    bool
	cpuProfile string
	memProfile string
	timeout    time.Duration
	log        *zap.Logger

	latencyN, latencyWarmup int
	fanoutN, fanoutRegions  int
	fanoutQPS               float64
	throughputN             int
	throughputTriggers      int
	throughputRegions       int
	emptyN                  int
	memoryN                 int
	memorySettle            time.Duration
	evalN, evalRuns         int
	// triggerWorkers and jobWorkers are the worker's --trigger-workers and
	// --job-workers, to try other settings against the same figures.
	triggerWorkers, jobWorkers int
}

func parseBenchFlags(args []string, stderr io.Writer) (*benchOptions, error) {
	o := &benchOptions{}
	fs := flag.NewFlagSet("copyguard bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: copyguard bench [flags]\n\n"+
			"Measures the SPEC §8.1 figures on this machine with real parts: an embedded nats-server\n"+
			"with JetStream, the ECS simulator on a loopback listener, the real SDK client and the\n"+
			"real worker. Each scenario gets a fresh world. A missed target prints FAIL but exits 0;\n"+
			"a scenario that could not run exits 1.\n\nflags:\n")
		fs.PrintDefaults()
	}
	scenarios := fs.String("scenarios", strings.Join(benchScenarios, ","), "comma-separated scenarios to run: "+strings.Join(benchScenarios, ", "))
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.BoolVar(&o.verbose, "v", false, "show the worker's logs (info level, on stderr)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file`")
	fs.StringVar(&o.memProfile, "memprofile", "", "memory: write a heap profile with the inventory loaded to `file`")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	defaults := app.Defaults()
	fs.IntVar(&o.triggerWorkers, "trigger-workers", defaults.TriggerWorkers, "the worker's --trigger-workers")
	fs.IntVar(&o.jobWorkers, "job-workers", defaults.JobWorkers, "the worker's --job-workers")
	fs.IntVar(&o.latencyN, "latency-n", 1000, "latency: triggers measured, one at a time")
	fs.IntVar(&o.latencyWarmup, "latency-warmup", 20, "latency: triggers sent first and not measured (connections, first allocations)")
	fs.IntVar(&o.fanoutN, "fanout-n", 600, "fan-out: copies one trigger selects")
	fs.IntVar(&o.fanoutRegions, "fanout-regions", 3, "fan-out: regions the copies are spread over")
	fs.Float64Var(&o.fanoutQPS, "fanout-qps", 100, "fan-out: calls/s per region the simulator allows, and the worker's --qps")
	fs.IntVar(&o.throughputN, "throughput-n", 10000, "throughput: copies to cancel")
	fs.IntVar(&o.throughputTriggers, "throughput-triggers", 5, "throughput: triggers that select them (an equal share each)")
	fs.IntVar(&o.throughputRegions, "throughput-regions", 14, "throughput: regions the copies are spread over (at most 14)")
	fs.IntVar(&o.emptyN, "empty-n", 100000, "empty: triggers that select nothing")
	fs.IntVar(&o.memoryN, "memory-n", 100000, "memory: copies in the inventory")
	fs.DurationVar(&o.memorySettle, "memory-settle", 12*time.Second, "memory: idle time before the measurement that counts (nats-server caches written blocks for 10s)")
	fs.IntVar(&o.evalN, "eval-n", 100000, "eval: copies in the index")
	fs.IntVar(&o.evalRuns, "eval-runs", 20, "eval: evaluations per trigger")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("bench takes no arguments, got %q", fs.Args())
	}
	var errs []error
	for _, s := range strings.Split(*scenarios, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case !slices.Contains(benchScenarios, s):
			errs = append(errs, fmt.Errorf("--scenarios: unknown scenario %q; want %s", s, strings.Join(benchScenarios, ", ")))
		case !slices.Contains(o.scenarios, s):
			o.scenarios = append(o.scenarios, s)
		}
	}
	slices.SortFunc(o.scenarios, func(a, b string) int { return slices.Index(benchScenarios, a) - slices.Index(benchScenarios, b) })
	if len(o.scenarios) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("--scenarios: none given"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"latency-n", o.latencyN}, {"fanout-n", o.fanoutN}, {"fanout-regions", o.fanoutRegions},
		{"throughput-n", o.throughputN}, {"throughput-triggers", o.throughputTriggers}, {"throughput-regions", o.throughputRegions},
		{"empty-n", o.emptyN}, {"memory-n", o.memoryN}, {"eval-n", o.evalN}, {"eval-runs", o.evalRuns},
		{"trigger-workers", o.triggerWorkers}, {"job-workers", o.jobWorkers}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("--%s: %d: must be >= 1", f.name, f.v))
		}
	}
	if o.latencyWarmup < 0 {
		errs = append(errs, fmt.Errorf("--latency-warmup: %d: must be >= 0", o.latencyWarmup))
	}
	if !(o.fanoutQPS > 0) || math.IsInf(o.fanoutQPS, 0) {
		errs = append(errs, fmt.Errorf("--fanout-qps: %v: must be a finite number > 0", o.fanoutQPS))
	}
	if o.fanoutRegions > len(benchRegions) || o.throughputRegions > len(benchRegions) {
		errs = append(errs, fmt.Errorf("--fanout-regions/--throughput-regions: at most %d", len(benchRegions)))
	}
	return o, errors.Join(errs...)
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	o.log = zap.NewNop()
	if o.verbose {
		if o.log, err = newLogger("console", "info", stderr); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rep := &benchReport{Machine: machineInfo()}
	progress := io.Discard
	if !o.json {
		progress = stderr
	}
	for _, s := range o.scenarios {
		fmt.Fprintf(progress, "bench: %s...\n", s)
		run := benchScenarioRun{Scenario: s, LoadBefore: loadAverage()[0]}
		start, cpu0, busy0 := time.Now(), processCPU(), machineBusy()
		rows, err := benchRun(ctx, o, s)
		run.WallSeconds, run.CPUSeconds = time.Since(start).Seconds(), (processCPU() - cpu0).Seconds()
		run.OthersSeconds = max(0, (machineBusy()-busy0).Seconds()-run.CPUSeconds)
		run.LoadAfter = loadAverage()[0]
		rep.Runs = append(rep.Runs, run)
		rep.Rows = append(rep.Rows, rows...)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", s, err))
			fmt.Fprintf(progress, "bench: %s failed: %v\n", s, err)
		}
		fmt.Fprintf(progress, "bench: %s done in %.1fs\n", s, run.WallSeconds)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Machine.LoadAfter = loadAverage()
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.print(stdout)
	}
	if len(rep.Errors) > 0 {
		return exitError(1)
	}
	return nil
}

func benchRun(ctx context.Context, o *benchOptions, scenario string) ([]benchRow, error) {
	switch scenario {
	case "latency":
		return benchLatency(ctx, o)
	case "fanout":
		return benchFanout(ctx, o)
	case "throughput":
		return benchThroughput(ctx, o)
	case "empty":
		return benchEmpty(ctx, o)
	case "memory":
		return benchMemory(ctx, o)
	case "eval":
		return benchEval(ctx, o)
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

// benchRow is one figure. Pass is nil for a figure that has no target and
// is shown to explain the others.
type benchRow struct {
	Scenario string  `json:"scenario"`
	Figure   string  `json:"figure"`
	Target   string  `json:"target,omitempty"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Pass     *bool   `json:"pass,omitempty"`
	Detail   string  `json:"detail,omitempty"`
}

func infoRow(scenario, figure string, v float64, unit, detail string) benchRow {
	return benchRow{Scenario: scenario, Figure: figure, Value: v, Unit: unit, Detail: detail}
}

func targetRow(scenario, figure, target string, v float64, unit string, pass bool, detail string) benchRow {
	return benchRow{Scenario: scenario, Figure: figure, Target: target, Value: v, Unit: unit, Pass: &pass, Detail: detail}
}

// benchMachine says what the figures were measured on: a loaded machine
// shows in the load averages.
type benchMachine struct {
	GoVersion  string     `json:"go_version"`
	OS         string     `json:"os"`
	NumCPU     int        `json:"num_cpu"`
	GOMAXPROCS int        `json:"gomaxprocs"`
	LoadBefore [3]float64 `json:"load_before"`
	LoadAfter  [3]float64 `json:"load_after"`
	Started    time.Time  `json:"started"`
}

// benchScenarioRun is the whole of one scenario (setup included): how much
// CPU this process got, and how busy the machine was around it.
type benchScenarioRun struct {
	Scenario    string  `json:"scenario"`
	WallSeconds float64 `json:"wall_seconds"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	LoadBefore  float64 `json:"load1_before"`
	LoadAfter   float64 `json:"load1_after"`
	// OthersSeconds is the CPU time the rest of the machine used meanwhile.
	OthersSeconds float64 `json:"others_cpu_seconds"`
}

type benchReport struct {
	Machine benchMachine       `json:"machine"`
	Rows    []benchRow         `json:"rows"`
	Runs    []benchScenarioRun `json:"runs"`
	Errors  []string           `json:"errors,omitempty"`
}

func machineInfo() benchMachine {
	return benchMachine{GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, NumCPU: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), LoadBefore: loadAverage(), Started: time.Now().UTC().Truncate(time.Second)}
}

// loadAverage reads /proc/loadavg; zeros where there is none.
func loadAverage() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err == nil {
		_, _ = fmt.Sscan(string(b), &l[0], &l[1], &l[2])
	}
	return l
}

func (r *benchReport) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "copyguard bench: %s %s, %d CPUs (GOMAXPROCS %d), load average %.2f %.2f %.2f before, %.2f %.2f %.2f after\n\n",
		m.GoVersion, m.OS, m.NumCPU, m.GOMAXPROCS, m.LoadBefore[0], m.LoadBefore[1], m.LoadBefore[2], m.LoadAfter[0], m.LoadAfter[1], m.LoadAfter[2])
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\tTARGET\tMEASURED\tRESULT")
	var notes []string
	failed := 0
	for _, row := range r.Rows {
		result, target := "", row.Target
		if target == "" {
			target = "-"
		}
		if row.Pass != nil {
			result = "PASS"
			if !*row.Pass {
				result = "FAIL"
				failed++
			}
		}
		if row.Detail != "" {
			notes = append(notes, row.Detail)
			result += fmt.Sprintf(" [%d]", len(notes))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Scenario, row.Figure, target, formatValue(row.Value, row.Unit), strings.TrimSpace(result))
	}
	tw.Flush()
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for i, n := range notes {
			fmt.Fprintf(w, "[%d] %s\n", i+1, n)
		}
	}
	if len(r.Runs) > 0 {
		fmt.Fprintln(w, "\nper scenario, setup included: wall time; CPU time of this process and of everything else on the machine (cores busy); 1-minute load average before → after")
		for _, run := range r.Runs {
			wall := max(run.WallSeconds, 1e-9)
			fmt.Fprintf(w, "  %-10s %6.1f s  bench %6.1f s CPU (%.2f cores)  others %6.1f s CPU (%.2f cores)  load %.2f → %.2f\n", run.Scenario, run.WallSeconds,
				run.CPUSeconds, run.CPUSeconds/wall, run.OthersSeconds, run.OthersSeconds/wall, run.LoadBefore, run.LoadAfter)
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "\nERROR %s\n", e)
	}
	fmt.Fprintf(w, "\n%d figures with a target missed, %d scenarios failed to run.\n", failed, len(r.Errors))
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "ms", "s", "MB", "%":
		return fmt.Sprintf("%.2f %s", v, unit)
	case "":
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

// percentile returns the q-quantile (0 < q <= 1) of sorted by the
// nearest-rank method, so p99 of 500 samples is the 495th.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// machineBusy is the CPU time all processes used since boot, from
// /proc/stat (everything but idle and iowait); 0 where there is none.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// processCPU is this process's user plus system CPU time. On a shared
// machine wall-clock rates depend on the other load; CPU time per item
// says what the process would do with the cores to itself.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
