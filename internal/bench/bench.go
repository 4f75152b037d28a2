package bench

import (
	"context"
	"encoding/json"
	"errors"
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

// scenarios are the SPEC §8.1 figures in the order they run. Memory
// goes first, while the process holds nothing from other scenarios: Go
// and nats-server keep some of what a scenario allocated, and the peak
// RSS (VmHWM) covers the whole life of the process.
var scenarios = []string{"memory", "latency", "fanout", "throughput", "empty", "eval", "fleet"}

// Scenarios returns the names of the scenarios, in the order they run.
func Scenarios() []string { return slices.Clone(scenarios) }

// ErrScenarioFailed is returned by Run, after the report, when a scenario
// could not run. A missed target is not an error.
var ErrScenarioFailed = errors.New("a bench scenario failed to run")

// Options are what copyguard bench can be told. The defaults
// (DefaultOptions) finish the whole bench in about two minutes on a
// 2-core machine.
type Options struct {
	Scenarios  []string // in run order, each once (see ParseScenarios)
	JSON       bool     // print the report as JSON
	CPUProfile string   // write a CPU profile of the whole run here
	MemProfile string   // memory: write a heap profile with the inventory loaded here
	Timeout    time.Duration
	Log        *zap.Logger // the worker's logger; nil: none

	LatencyN, LatencyWarmup int
	FanoutN, FanoutRegions  int
	FanoutQPS               float64
	ThroughputN             int
	ThroughputTriggers      int
	ThroughputRegions       int
	EmptyN                  int
	MemoryN                 int
	MemorySettle            time.Duration
	EvalN, EvalRuns         int
	// The fleet scenario: FleetReplicas worker processes, FleetN copies
	// per phase over FleetRegions regions at FleetQPS calls/s per region.
	FleetReplicas, FleetN, FleetRegions int
	FleetQPS                            float64
	// Exe is the copyguard binary the fleet scenario runs its replicas
	// with (copyguard run); empty: this executable. ExeEnv is added to
	// their environment.
	Exe    string
	ExeEnv []string
	// TriggerWorkers and JobWorkers are the worker's --trigger-workers and
	// --job-workers, to try other settings against the same figures.
	TriggerWorkers, JobWorkers int
}

// DefaultOptions returns every scenario at its default size.
func DefaultOptions() Options {
	d := app.Defaults()
	return Options{
		Scenarios: Scenarios(), Timeout: 10 * time.Minute,
		LatencyN: 1000, LatencyWarmup: 20,
		FanoutN: 600, FanoutRegions: 3, FanoutQPS: 100,
		ThroughputN: 10000, ThroughputTriggers: 5, ThroughputRegions: 14,
		EmptyN: 100000, MemoryN: 100000, MemorySettle: 12 * time.Second,
		EvalN: 100000, EvalRuns: 20,
		FleetReplicas: 3, FleetN: 600, FleetRegions: 3, FleetQPS: 20,
		TriggerWorkers: d.TriggerWorkers, JobWorkers: d.JobWorkers,
	}
}

// ParseScenarios reads a comma-separated list of scenarios into run
// order, each once, and reports every unknown name, or an empty list.
func ParseScenarios(list string) ([]string, error) {
	var (
		out  []string
		errs []error
	)
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case !slices.Contains(scenarios, s):
			errs = append(errs, fmt.Errorf("--scenarios: unknown scenario %q; want %s", s, strings.Join(scenarios, ", ")))
		case !slices.Contains(out, s):
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(scenarios, a) - slices.Index(scenarios, b) })
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("--scenarios: none given"))
	}
	return out, errors.Join(errs...)
}

// Validate reports every problem of the sizes at once, each naming its
// flag; ParseScenarios checks the scenarios.
func (o *Options) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"latency-n", o.LatencyN}, {"fanout-n", o.FanoutN}, {"fanout-regions", o.FanoutRegions},
		{"throughput-n", o.ThroughputN}, {"throughput-triggers", o.ThroughputTriggers}, {"throughput-regions", o.ThroughputRegions},
		{"empty-n", o.EmptyN}, {"memory-n", o.MemoryN}, {"eval-n", o.EvalN}, {"eval-runs", o.EvalRuns},
		{"fleet-n", o.FleetN}, {"fleet-regions", o.FleetRegions},
		{"trigger-workers", o.TriggerWorkers}, {"job-workers", o.JobWorkers}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("--%s: %d: must be >= 1", f.name, f.v))
		}
	}
	if o.LatencyWarmup < 0 {
		errs = append(errs, fmt.Errorf("--latency-warmup: %d: must be >= 0", o.LatencyWarmup))
	}
	if o.FleetReplicas < 2 {
		errs = append(errs, fmt.Errorf("--fleet-replicas: %d: must be >= 2 (one is killed)", o.FleetReplicas))
	}
	if !(o.FleetQPS > 0) || math.IsInf(o.FleetQPS, 0) {
		errs = append(errs, fmt.Errorf("--fleet-qps: %v: must be a finite number > 0", o.FleetQPS))
	}
	if !(o.FanoutQPS > 0) || math.IsInf(o.FanoutQPS, 0) {
		errs = append(errs, fmt.Errorf("--fanout-qps: %v: must be a finite number > 0", o.FanoutQPS))
	}
	if o.FanoutRegions > len(regions) || o.ThroughputRegions > len(regions) || o.FleetRegions > len(regions) {
		errs = append(errs, fmt.Errorf("--fanout-regions/--throughput-regions/--fleet-regions: at most %d", len(regions)))
	}
	return errors.Join(errs...)
}

// Run runs the scenarios of o, each in a fresh world, and prints the
// report to stdout (progress to stderr, unless o.JSON). It returns
// ErrScenarioFailed when a scenario could not run.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rep := &report{Machine: machineInfo()}
	progress := io.Discard
	if !o.JSON {
		progress = stderr
	}
	for _, s := range o.Scenarios {
		fmt.Fprintf(progress, "bench: %s...\n", s)
		run := scenarioRun{Scenario: s, LoadBefore: loadAverage()[0]}
		start, cpu0, busy0 := time.Now(), processCPU(), machineBusy()
		rows, err := runScenario(ctx, &o, s)
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
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.print(stdout)
	}
	if len(rep.Errors) > 0 {
		return ErrScenarioFailed
	}
	return nil
}

func runScenario(ctx context.Context, o *Options, scenario string) ([]row, error) {
	switch scenario {
	case "latency":
		return runLatency(ctx, o)
	case "fanout":
		return runFanout(ctx, o)
	case "throughput":
		return runThroughput(ctx, o)
	case "empty":
		return runEmpty(ctx, o)
	case "memory":
		return runMemory(ctx, o)
	case "eval":
		return runEval(ctx, o)
	case "fleet":
		return runFleet(ctx, o)
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

// row is one figure. Pass is nil for a figure that has no target and
// is shown to explain the others.
type row struct {
	Scenario string  `json:"scenario"`
	Figure   string  `json:"figure"`
	Target   string  `json:"target,omitempty"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Pass     *bool   `json:"pass,omitempty"`
	Detail   string  `json:"detail,omitempty"`
}

func infoRow(scenario, figure string, v float64, unit, detail string) row {
	return row{Scenario: scenario, Figure: figure, Value: v, Unit: unit, Detail: detail}
}

func targetRow(scenario, figure, target string, v float64, unit string, pass bool, detail string) row {
	return row{Scenario: scenario, Figure: figure, Target: target, Value: v, Unit: unit, Pass: &pass, Detail: detail}
}

// machine says what the figures were measured on: a loaded machine
// shows in the load averages.
type machine struct {
	GoVersion  string     `json:"go_version"`
	OS         string     `json:"os"`
	NumCPU     int        `json:"num_cpu"`
	GOMAXPROCS int        `json:"gomaxprocs"`
	LoadBefore [3]float64 `json:"load_before"`
	LoadAfter  [3]float64 `json:"load_after"`
	Started    time.Time  `json:"started"`
}

// scenarioRun is the whole of one scenario (setup included): how much
// CPU this process got, and how busy the machine was around it.
type scenarioRun struct {
	Scenario    string  `json:"scenario"`
	WallSeconds float64 `json:"wall_seconds"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	LoadBefore  float64 `json:"load1_before"`
	LoadAfter   float64 `json:"load1_after"`
	// OthersSeconds is the CPU time the rest of the machine used meanwhile.
	OthersSeconds float64 `json:"others_cpu_seconds"`
}

type report struct {
	Machine machine       `json:"machine"`
	Rows    []row         `json:"rows"`
	Runs    []scenarioRun `json:"runs"`
	Errors  []string      `json:"errors,omitempty"`
}

func machineInfo() machine {
	return machine{GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, NumCPU: runtime.NumCPU(),
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

func (r *report) print(w io.Writer) {
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
	case "ms", "s", "MB", "%", "×":
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
