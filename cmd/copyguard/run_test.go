package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/internal/app"
	"github.com/copyguard/copyguard/internal/natstest"
)

const testPolicies = "../../internal/app/testdata/policies.yaml"

// runEnv gives a worker process the simulator's credentials and keeps it
// off the real credential chain and any COPYGUARD_* of the test's own
// environment that would change the command line's meaning.
var runEnv = []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=run-key", "ALIBABA_CLOUD_ACCESS_KEY_SECRET=run-secret",
	"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true",
	"COPYGUARD_NATS_URL=", "COPYGUARD_CONFIG=", "COPYGUARD_HTTP_ADDR=", "COPYGUARD_SUBJECT_PREFIX="}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int { return natstest.FreePorts(t, 1)[0] }

// alive fails the test at once if the process has exited, instead of
// letting a waitFor run into its timeout.
func (p *proc) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("copyguard exited early (%v):\n%s", p.err, p.out.String())
	default:
	}
}

// stop sends SIGTERM and returns the exit error, failing after 15s.
func (p *proc) stop(t *testing.T) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(15 * time.Second):
		t.Fatalf("SIGTERM did not stop copyguard within 15s:\n%s", p.out.String())
		return nil
	}
}

func get(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunServesHealthAndMetrics runs copyguard run as a process against a
// test NATS and the simulator: health and readiness answer, metrics show
// the inventory and a trigger that led to a real cancel, every log line is
// JSON with snake_case keys, and SIGTERM ends it with status 0.
func TestRunServesHealthAndMetrics(t *testing.T) {
	w := startWorld(t)
	sim, endpoint := w.Sim(), w.SimAddr()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProc(t, runEnv, "run", "--nats-url", w.NATSURL(), "--policy", testPolicies,
		"--ecs-endpoint", endpoint, "--ecs-insecure", "--http-addr", addr, "--log-format", "json",
		"--instance-id", "run-test", "--shutdown-timeout", "5s")
	base := "http://" + addr

	natstest.WaitFor(t, "/readyz", 60*time.Second, func() bool {
		p.alive(t)
		code, _ := get(base + "/readyz")
		return code == http.StatusOK
	})
	if code, body := get(base + "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get(base + "/readyz")
	var rd app.Readiness
	if err := json.Unmarshal([]byte(body), &rd); code != http.StatusOK || err != nil || !rd.Ready {
		t.Errorf("/readyz: %d %q (%v)", code, body, err)
	}
	var checks []string
	for _, c := range rd.Checks {
		checks = append(checks, c.Name)
		if !c.OK {
			t.Errorf("/readyz check %s: %s", c.Name, c.Error)
		}
	}
	if got := strings.Join(checks, ","); got != "started,nats,jetstream,publish,descriptors,policies,inventory,cloud" {
		t.Errorf("/readyz checks %s", got)
	}
	if code, _ := get(base + "/nosuch"); code != http.StatusNotFound {
		t.Errorf("/nosuch: %d", code)
	}
	metric := func(line string) func() bool {
		return func() bool {
			p.alive(t)
			_, body := get(base + "/metrics")
			return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).MatchString(body)
		}
	}
	natstest.WaitFor(t, "an empty inventory", 10*time.Second, metric("copyguard_inventory_copies 0"))

	// A copy announced on the inventory stream shows in the gauge.
	names := w.Names()
	id := sim.AddImage(ecssim.Image{ID: "m-run00001", Region: "cn-shanghai", IsCopied: true, SourceRegion: "cn-hangzhou",
		SourceImageID: "m-src00001", Tags: map[string]string{"cost-center": "r"}, CopyTime: time.Hour})
	publishEvent(t, w, names.CopySubject("started"), "copy.started", "started-"+id, map[string]any{
		"image_id": id, "region": "cn-shanghai", "source_region": "cn-hangzhou", "tags": map[string]string{"cost-center": "r"}})
	natstest.WaitFor(t, "the copy in copyguard_inventory_copies", 10*time.Second, metric("copyguard_inventory_copies 1"))

	// A trigger from the command line cancels it.
	if _, _, err := cli(t, "trigger", "budget.exceeded", "--nats-url", w.NATSURL(), "--id", "run-budget",
		"--data", `{"budget":"r","percent":130,"scope":{"tags":{"cost-center":"r"}}}`); err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, "the trigger in copyguard_triggers_total", 10*time.Second, metric(`copyguard_triggers_total{type="budget.exceeded"} 1`))
	natstest.WaitFor(t, "the cancel result", 10*time.Second, metric(`copyguard_results_total{outcome="cancelled"} 1`))
	if n := sim.Calls("CancelCopyImage", id); n != 1 {
		t.Errorf("CancelCopyImage called %d times for %s, want 1", n, id)
	}
	if _, body := get(base + "/metrics"); !strings.Contains(body, "\ngo_goroutines ") || !strings.Contains(body, "\nprocess_resident_memory_bytes ") {
		t.Errorf("/metrics lacks the Go and process collectors")
	}

	if err := p.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if code, _ := get(base + "/healthz"); code != 0 {
		t.Errorf("/healthz still answers %d after exit", code)
	}

	// Every line is a JSON object with snake_case keys; the lines that
	// matter carry the documented keys.
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	seen := map[string]map[string]any{}
	for i, line := range strings.Split(strings.TrimSpace(p.out.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %d is not JSON: %q", i+1, line)
			continue
		}
		for k := range rec {
			if !snake.MatchString(k) {
				t.Errorf("log line %d: key %q is not snake_case: %s", i+1, k, line)
			}
		}
		if msg, _ := rec["msg"].(string); msg != "" {
			seen[msg] = rec
		}
	}
	for msg, keys := range map[string][]string{
		"worker ready":    {"level", "ts", "instance", "nats", "dry_run"},
		"trigger decided": {"trigger_id", "trigger_type", "policies", "cancel"},
		"stopped":         {"level", "ts"},
	} {
		rec, ok := seen[msg]
		if !ok {
			t.Errorf("no %q log line", msg)
			continue
		}
		for _, k := range keys {
			if _, ok := rec[k]; !ok {
				t.Errorf("%q log line lacks %q: %v", msg, k, rec)
			}
		}
	}
	if rec := seen["trigger decided"]; rec != nil && rec["trigger_id"] != "run-budget" {
		t.Errorf("trigger decided: trigger_id %v", rec["trigger_id"])
	}
	// Durations carry their unit.
	if rec := seen["signal received; stopping"]; rec == nil || rec["timeout"] != "5s" {
		t.Errorf("signal received; stopping: %v, want timeout 5s", rec)
	}
}

// TestRunBadPolicy: a policy with errors stops run before it connects to
// anything: exit status 1, every error on stderr with file:line:col, and
// nothing on stdout.
func TestRunBadPolicy(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`policies:
  - name: broken
    on: [budget.exceeded]
    match: copy.nosuch == "x"
    action: cancel
  - name: worse
    on: [budget.exceeded]
    match: copy.region == 1 +
    action: cancel
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "run", "--policy", bad, "--nats-url", "nats://"+deadAddr(t), "--http-addr", "")
	cmd.Env = append(append(cmd.Environ(), runEnv...), "COPYGUARD_TEST_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\nstderr:\n%s", err, stderr.String())
	}
	for _, re := range []string{
		regexp.QuoteMeta(bad) + `:4:\d+: policy "broken": match: .*nosuch`,
		regexp.QuoteMeta(bad) + `:8:\d+: policy "worse": match: `,
	} {
		if !regexp.MustCompile(re).MatchString(stderr.String()) {
			t.Errorf("stderr does not match %s:\n%s", re, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "connect") {
		t.Errorf("run tried NATS before checking its policies:\n%s", stderr.String())
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout: %s", stdout.String())
	}
}

// TestRunEmbeddedNATS: without --nats-url, run starts its own NATS with
// JetStream on 127.0.0.1:--nats-port, stored under --data-dir; the other
// commands reach it there, and a trigger sent to it is decided.
func TestRunEmbeddedNATS(t *testing.T) {
	endpoint := startWorld(t).SimAddr()
	dataDir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	p := startProc(t, runEnv, "run", "--data-dir", dataDir, "--nats-port", strconv.Itoa(port), "--policy", testPolicies,
		"--ecs-endpoint", endpoint, "--ecs-insecure", "--http-addr", "", "--log-format", "console", "--instance-id", "embedded")

	natstest.WaitFor(t, "the embedded server and the worker's streams", 60*time.Second, func() bool {
		p.alive(t)
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err != nil {
			return false
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		s, err := js.Stream(t.Context(), bus.NamesFor("copyguard").TriggerStream)
		if err != nil {
			return false
		}
		_, err = s.Consumer(t.Context(), "triggers")
		return err == nil
	})
	if _, _, err := cli(t, "trigger", "budget.exceeded", "--nats-url", url, "--id", "emb-1",
		"--data", `{"budget":"nobody","percent":150}`); err != nil {
		t.Fatal(err)
	}
	out, _, err := cli(t, "watch", "--nats-url", url, "--all", "--count", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Decode([]byte(strings.TrimSpace(out)), 0)
	if err != nil {
		t.Fatalf("watch printed %q: %v", out, err)
	}
	var d event.Decision
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	if ev.Type != event.TypeDecision || d.Trigger.ID != "emb-1" || d.Instance != "embedded" || !slices.Contains(d.Fired, "budget") {
		t.Errorf("decision %s %+v", ev.Type, d)
	}
	if !strings.Contains(p.out.String(), url) {
		t.Errorf("the log does not say where the embedded server listens (%s):\n%s", url, p.out.String())
	}
	if err := p.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "jetstream")); err != nil {
		t.Errorf("no JetStream store under --data-dir: %v", err)
	}
	// The server went down with the worker.
	if nc, err := nats.Connect(url, nats.Timeout(time.Second)); err == nil {
		nc.Close()
		t.Errorf("the embedded server still answers after the worker exited")
	}
}
