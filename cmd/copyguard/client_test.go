package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/internal/natstest"
	"github.com/copyguard/copyguard/worker"
)

// testBus is a natstest server with copyguard's topology, as a worker
// would have left it.
type testBus struct {
	url   string
	js    jetstream.JetStream
	topo  *bus.Topology
	names bus.Names
}

func startBus(t *testing.T, prefix string) *testBus {
	t.Helper()
	ns := natstest.Start(t)
	return setupBus(t, ns.ClientURL(), prefix)
}

func setupBus(t *testing.T, url, prefix string) *testBus {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	names := bus.NamesFor(prefix)
	topo, err := bus.Setup(t.Context(), js, names, bus.DefaultTopology())
	if err != nil {
		t.Fatal(err)
	}
	return &testBus{url: url, js: js, topo: topo, names: names}
}

// cli runs one copyguard command in this process, as main would.
func cli(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func streamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestTriggerPublishes: copyguard trigger publishes a CloudEvent on
// <prefix>.trigger.<type> that the worker's own decoders accept, with the
// id as Nats-Msg-Id, so a repeat is dropped by the stream and reported.
func TestTriggerPublishes(t *testing.T) {
	b := startBus(t, "copyguard")
	data := `{
		"budget": "team-a", "percent": 120.5, "limit": 1000, "actual": 1205, "currency": "USD",
		"scope": {"tags": {"cost-center": "a"}}
	}`
	out, _, err := cli(t, "trigger", "budget.exceeded", "--nats-url", b.url, "--id", "t-1", "--subject", "budget/team-a", "--data", data)
	if err != nil {
		t.Fatalf("trigger: %v", err)
	}
	if want := "published budget.exceeded id=t-1 to copyguard.trigger.budget.exceeded, stream COPYGUARD_TRIGGERS seq 1\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}

	m, err := b.topo.Triggers.GetMsg(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != b.names.TriggerSubject("budget.exceeded") {
		t.Errorf("subject %q", m.Subject)
	}
	if got := m.Header.Get(jetstream.MsgIDHeader); got != "t-1" {
		t.Errorf("Nats-Msg-Id %q, want t-1", got)
	}
	ev, err := event.Decode(m.Data, 0)
	if err != nil {
		t.Fatalf("the worker's decoder refuses the published event: %v\n%s", err, m.Data)
	}
	if err := event.CheckSubject(ev, m.Subject, "copyguard"); err != nil {
		t.Error(err)
	}
	if ev.ID != "t-1" || ev.Type != "budget.exceeded" || ev.Source != "copyguard-cli" || ev.Subject != "budget/team-a" ||
		ev.SpecVersion != "1.0" || time.Since(ev.Time) > time.Minute {
		t.Errorf("envelope %+v", ev)
	}
	_, typed, err := event.DecodeTrigger(ev)
	if err != nil {
		t.Fatalf("DecodeTrigger: %v", err)
	}
	want := event.BudgetExceeded{Budget: "team-a", Percent: 120.5, Limit: 1000, Actual: 1205, Currency: "USD",
		Scope: event.BudgetScope{Tags: map[string]string{"cost-center": "a"}}}
	if got, ok := typed.(event.BudgetExceeded); !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("data %#v, want %#v", typed, want)
	}

	// The same id again: the stream drops it and the command says so.
	out, _, err = cli(t, "trigger", "budget.exceeded", "--nats-url", b.url, "--id", "t-1", "--data", data)
	if err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if !strings.Contains(out, "id=t-1") || !strings.Contains(out, "duplicate id: dropped by the stream") {
		t.Errorf("repeat not reported as duplicate: %q", out)
	}
	if n := streamMsgs(t, b.topo.Triggers); n != 1 {
		t.Errorf("%d messages in the trigger stream after a repeat, want 1", n)
	}

	// Without --id each trigger gets its own; the type may follow the flags.
	for range 2 {
		out, _, err = cli(t, "trigger", "--nats-url", b.url, "--data", `{"image_id":"m-abcd1234","region":"cn-hangzhou","reason":"r"}`, "cancel.requested")
		if err != nil || strings.Contains(out, "duplicate") {
			t.Fatalf("trigger without --id: %v %q", err, out)
		}
	}
	if n := streamMsgs(t, b.topo.Triggers); n != 3 {
		t.Errorf("%d messages in the trigger stream, want 3", n)
	}
	// A type the worker has no schema for is allowed (policies may use it).
	if _, _, err := cli(t, "trigger", "cost.anomaly", "--nats-url", b.url, "--data", `{"score": 0.9}`); err != nil {
		t.Errorf("custom trigger type: %v", err)
	}
}

// TestTriggerRefusesBadInput: data or a type the worker would reject is
// refused before anything is published.
func TestTriggerRefusesBadInput(t *testing.T) {
	b := startBus(t, "copyguard")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"percent as string", []string{"budget.exceeded", "--data", `{"budget":"b","percent":"150"}`},
			"trigger budget.exceeded: data.percent: must be a number, got string"},
		{"missing required field", []string{"budget.exceeded", "--data", `{"percent":150}`}, "data.budget"},
		{"negative percent", []string{"budget.exceeded", "--data", `{"budget":"b","percent":-1}`}, "data.percent"},
		{"no data", []string{"region.quarantined"}, "data.region"},
		{"duplicate key", []string{"budget.exceeded", "--data", `{"budget":"b","percent":150,"percent":"x"}`}, "data.percent: duplicate key"},
		{"integer beyond 2^53", []string{"cost.anomaly", "--data", `{"account":9007199254740993}`}, "data.account: integer 9007199254740993"},
		{"not JSON", []string{"budget.exceeded", "--data", `{budget: b}`}, "--data: not valid JSON"},
		{"not an object", []string{"budget.exceeded", "--data", `[1,2]`}, "must be a JSON object"},
		{"upper case type", []string{"Budget.Exceeded", "--data", `{}`}, `trigger type "Budget.Exceeded"`},
		{"empty token", []string{"budget..exceeded", "--data", `{}`}, `trigger type "budget..exceeded"`},
		{"wildcard type", []string{"budget.>", "--data", `{}`}, `trigger type "budget.>"`},
		{"inventory type", []string{"copy.started", "--data", `{"image_id":"m-1","region":"cn-hangzhou"}`}, "inventory event, not a trigger"},
		{"no type", []string{"--data", `{}`}, "usage: copyguard trigger TYPE"},
		{"two types", []string{"a", "b"}, "usage: copyguard trigger TYPE"},
		{"bad id", []string{"cost.anomaly", "--id", strings.Repeat("x", 300)}, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := cli(t, append([]string{"trigger", "--nats-url", b.url}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if n := streamMsgs(t, b.topo.Triggers); n != 0 {
		t.Errorf("%d refused triggers reached the stream", n)
	}
}

// TestTriggerWithoutWorker: the command says what is missing when NATS is
// down or the streams were never created, and honours --subject-prefix.
func TestTriggerWithoutWorker(t *testing.T) {
	ns := natstest.Start(t)
	start := time.Now()
	_, _, err := cli(t, "trigger", "cost.anomaly", "--nats-url", ns.ClientURL(), "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "publish copyguard.trigger.cost.anomaly: no stream answered in 2") ||
		!strings.Contains(err.Error(), "created its streams") || !strings.Contains(err.Error(), "electing a stream leader") {
		t.Errorf("no streams: %v", err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("gave up after %v, want it to keep trying for --timeout 2s", d)
	}

	b := setupBus(t, ns.ClientURL(), "acme")
	out, _, err := cli(t, "trigger", "cost.anomaly", "--nats-url", ns.ClientURL(), "--subject-prefix", "acme")
	if err != nil || !strings.Contains(out, "to acme.trigger.cost.anomaly, stream ACME_TRIGGERS seq 1") {
		t.Errorf("--subject-prefix acme: %v %q", err, out)
	}
	if n := streamMsgs(t, b.topo.Triggers); n != 1 {
		t.Errorf("%d messages in ACME_TRIGGERS", n)
	}

	url := "nats://" + deadAddr(t)
	_, _, err = cli(t, "trigger", "cost.anomaly", "--nats-url", url, "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "connect to nats at "+url) {
		t.Errorf("NATS down: %v", err)
	}
}

// TestTriggerRetriesUntilAStreamAnswers: a publish that meets no stream
// (a leader election, or streams not made yet) is tried again within
// --timeout, and lands once, however many attempts it took.
func TestTriggerRetriesUntilAStreamAnswers(t *testing.T) {
	ns := natstest.Start(t)
	type answer struct {
		out string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		out, _, err := cli(t, "trigger", "cost.anomaly", "--nats-url", ns.ClientURL(), "--id", "retried-1", "--timeout", "20s")
		done <- answer{out, err}
	}()
	// The streams appear only after the server has seen two publish
	// attempts that no stream answered.
	natstest.WaitFor(t, "two unanswered publish attempts", 15*time.Second, func() bool {
		v, err := ns.Varz(nil)
		return err == nil && v.InMsgs >= 2
	})
	b := setupBus(t, ns.ClientURL(), "copyguard")
	a := <-done
	out, err := a.out, a.err
	if err != nil || !strings.Contains(out, "published cost.anomaly id=retried-1") {
		t.Fatalf("trigger during the outage: %v %q", err, out)
	}
	if n := streamMsgs(t, b.topo.Triggers); n != 1 {
		t.Errorf("%d messages in the trigger stream, want 1", n)
	}
}

// TestPauseResume: pause and resume write the control bucket's pause key
// the way the worker reads it.
func TestPauseResume(t *testing.T) {
	b := startBus(t, "copyguard")
	t.Setenv("USER", "alice")
	host, _ := os.Hostname()
	alice := "alice@" + host
	state := func() (worker.PauseState, uint64) {
		t.Helper()
		e, err := b.topo.Control.Get(t.Context(), worker.PauseKey)
		if err != nil {
			t.Fatal(err)
		}
		var p worker.PauseState
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			t.Fatal(err)
		}
		return p, e.Revision()
	}

	out, _, err := cli(t, "pause", "--nats-url", b.url, "--reason", "incident 42")
	if err != nil {
		t.Fatal(err)
	}
	if out != "paused: every cancel is now held (incident 42)\n" {
		t.Errorf("pause printed %q", out)
	}
	p, rev1 := state()
	if !p.Paused || p.Reason != "incident 42" || p.By != alice || time.Since(p.At) > time.Minute {
		t.Errorf("after pause: %+v", p)
	}

	out, _, err = cli(t, "resume", "--nats-url", b.url)
	if err != nil {
		t.Fatal(err)
	}
	if out != "resumed: cancels go ahead again\n" {
		t.Errorf("resume printed %q", out)
	}
	p, rev2 := state()
	if p.Paused || rev2 <= rev1 {
		t.Errorf("after resume: %+v (revision %d after %d)", p, rev2, rev1)
	}

	if _, _, err := cli(t, "pause", "--nats-url", b.url); err != nil {
		t.Fatal(err)
	}
	if p, _ := state(); !p.Paused || p.Reason != "paused by "+alice {
		t.Errorf("pause without --reason: %+v", p)
	}

	// No worker has created the bucket: say so.
	ns := natstest.Start(t)
	_, _, err = cli(t, "pause", "--nats-url", ns.ClientURL(), "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "bucket COPYGUARD_control") {
		t.Errorf("pause without a bucket: %v", err)
	}
	// A stray argument would make the flag package ignore every flag
	// after it (here: the URL, so the pause would go to another NATS).
	if _, _, err := cli(t, "pause", "now", "--nats-url", b.url); err == nil || !strings.Contains(err.Error(), "unexpected arguments: now --nats-url") {
		t.Errorf("pause with a positional argument: %v", err)
	}
}

// watchEvents publishes a decision, a result and a rejection onto the
// events stream, as a worker would.
func watchEvents(t *testing.T, b *testBus, suffix string) {
	t.Helper()
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	ref := event.TriggerRef{ID: "t-" + suffix, Type: "budget.exceeded", Source: "test"}
	pub := func(subject, typ, id string, data any) {
		t.Helper()
		ev, err := event.New(typ, "copyguard/test", id, "", at, data)
		if err != nil {
			t.Fatal(err)
		}
		body, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.js.Publish(t.Context(), subject, body, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	dc := func(id string) event.DecidedCopy {
		return event.DecidedCopy{ImageID: id, Region: "cn-shanghai", Policies: []string{"budget"}}
	}
	pub(b.names.DecisionSubject(), event.TypeDecision, "decision-"+suffix, event.Decision{
		Trigger: ref, Fired: []string{"budget", "golden"}, Cancel: []event.DecidedCopy{dc("m-1"), dc("m-2")},
		Held: []event.DecidedCopy{dc("m-3")}, Protected: []event.DecidedCopy{}, Planned: []event.DecidedCopy{},
		AlreadyDecided: []event.DecidedCopy{}, Errors: []event.EvalError{}, Paused: true, DecidedAt: at, Instance: "w1"})
	pub(b.names.ResultSubject("failed"), event.TypeResult, "result-"+suffix, event.Result{
		Trigger: ref, Outcome: "failed", Policies: []string{"budget"}, ImageID: "m-1", Region: "cn-shanghai",
		SourceRegion: "cn-hangzhou", Attempts: 3, ErrorCode: "Throttling", Reason: "out of retries",
		DecidedAt: at, FinishedAt: at, Instance: "w1"})
	pub(b.names.RejectedSubject(), event.TypeRejected, "rejected-"+suffix, event.Rejected{
		Subject: "copyguard.trigger.budget.exceeded", Reason: "data.percent: must be a number, got string",
		Original: `{"percent":"x"}`, Instance: "w1", At: at})
}

// TestWatch: watch --all --count N prints one readable line per event and
// stops; --json prints the events themselves, one per line.
func TestWatch(t *testing.T) {
	b := startBus(t, "copyguard")
	watchEvents(t, b, "1")

	out, _, err := cli(t, "watch", "--nats-url", b.url, "--all", "--count", "3")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} decision budget\.exceeded +t-1 +fired=\[budget,golden\] cancel=2 held=1 protected=0 planned=0 already=0 errors=0 PAUSED$`),
		regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} result   failed +cn-shanghai/m-1 by \[budget\] \(trigger budget\.exceeded t-1, attempts 3\) error Throttling: out of retries$`),
		regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} rejected copyguard\.trigger\.budget\.exceeded: data\.percent: must be a number, got string$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d: %q does not match %s", i+1, lines[i], re)
		}
	}

	out, _, err = cli(t, "watch", "--nats-url", b.url, "--all", "--count", "3", "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	types := []string{event.TypeDecision, event.TypeResult, event.TypeRejected}
	if len(lines) != len(types) {
		t.Fatalf("--json: got %d lines, want %d:\n%s", len(lines), len(types), out)
	}
	for i, l := range lines {
		ev, err := event.Decode([]byte(l), 0)
		if err != nil {
			t.Errorf("--json line %d is not an event: %v: %s", i+1, err, l)
			continue
		}
		if ev.Type != types[i] {
			t.Errorf("--json line %d: type %q, want %q", i+1, ev.Type, types[i])
		}
	}
}

// TestWatchFollow: without --all, watch starts at the end of the stream;
// without --count it follows until interrupted, then returns cleanly.
func TestWatchFollow(t *testing.T) {
	b := startBus(t, "copyguard")
	watchEvents(t, b, "old")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"watch", "--nats-url", b.url}, out, &syncBuffer{}) }()
	natstest.WaitFor(t, "watch's consumer", 10*time.Second, func() bool {
		info, err := b.topo.Events.Info(t.Context())
		return err == nil && info.State.Consumers == 1
	})
	watchEvents(t, b, "new")
	natstest.WaitFor(t, "three lines", 10*time.Second, func() bool { return strings.Count(out.String(), "\n") >= 3 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch after interrupt: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop on interrupt")
	}
	if got := out.String(); strings.Contains(got, "t-old") || strings.Count(got, "t-new") != 2 || strings.Count(got, "\n") != 3 {
		t.Errorf("watch from now printed:\n%s", got)
	}

	// No events stream: say so.
	ns := natstest.Start(t)
	if _, _, err := cli(t, "watch", "--nats-url", ns.ClientURL(), "--count", "1"); err == nil ||
		!strings.Contains(err.Error(), "watch COPYGUARD_EVENTS") {
		t.Errorf("watch without a stream: %v", err)
	}
	if _, _, err := cli(t, "watch", "all", "--count", "1", "--nats-url", b.url); err == nil ||
		!strings.Contains(err.Error(), "unexpected arguments: all --count 1") {
		t.Errorf("watch with a positional argument: %v", err)
	}
}

// TestVersion: version names the version, commit, Go version and platform.
func TestVersion(t *testing.T) {
	out, _, err := cli(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	// The test binary, like a build with -buildvcs=false, has no version stamp.
	want := "copyguard dev commit unknown " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH +
		" (built from source without a version: no -ldflags -X main.version, no VCS stamp, as with -buildvcs=false)\n"
	if out != want {
		t.Errorf("version printed %q, want %q", out, want)
	}

	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tt := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            string
	}{
		{"ldflags win", "v1.2.3", "abc123", &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}, Settings: vcs("vcs.revision", "fff")},
			"copyguard v1.2.3 commit abc123 go1.26.0 linux/amd64"},
		{"a git checkout", "dev", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs", "git", "vcs.revision", "0123456789abcdef", "vcs.time", "2026-11-29T10:00:00Z", "vcs.modified", "false")},
			"copyguard dev commit 0123456789abcdef go1.26.0 linux/amd64 (committed 2026-11-29T10:00:00Z)"},
		{"uncommitted changes", "dev", "", &debug.BuildInfo{Settings: vcs("vcs.revision", "0123456789abcdef", "vcs.modified", "true")},
			"copyguard dev commit 0123456789abcdef-dirty go1.26.0 linux/amd64"},
		{"go install @v1.4.0", "dev", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			"copyguard v1.4.0 commit unknown go1.26.0 linux/amd64"},
		{"go install @commit", "dev", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261129100000-0123456789ab"}},
			"copyguard v0.0.0-20261129100000-0123456789ab commit 0123456789ab go1.26.0 linux/amd64"},
		{"go install @commit after a tag", "dev", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.1-0.20261129100000-0123456789ab"}},
			"copyguard v1.4.1-0.20261129100000-0123456789ab commit 0123456789ab go1.26.0 linux/amd64"},
		{"no build info", "dev", "", nil,
			"copyguard dev commit unknown go1.26.0 linux/amd64 (built from source without a version: no -ldflags -X main.version, no VCS stamp, as with -buildvcs=false)"},
	} {
		if got := versionLine(tt.version, tt.commit, tt.bi, "go1.26.0", "linux/amd64"); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// TestDispatch: the command dispatcher in process, and main's exit
// statuses in a real process.
func TestDispatch(t *testing.T) {
	var code exitError
	out, errOut, err := cli(t)
	if !errors.As(err, &code) || code != 2 {
		t.Errorf("no arguments: %v, want exit status 2", err)
	}
	if out != "" || !strings.HasPrefix(errOut, "usage: copyguard COMMAND") {
		t.Errorf("no arguments: usage belongs on stderr; stdout %q stderr %q", out, errOut)
	}
	for _, name := range []string{"run", "trigger", "watch", "pause", "resume", "version"} {
		if !strings.Contains(errOut, "\n  "+name+" ") {
			t.Errorf("usage lacks %s:\n%s", name, errOut)
		}
	}

	for _, h := range []string{"help", "-h", "--help"} {
		out, errOut, err = cli(t, h)
		if err != nil || !strings.HasPrefix(out, "usage: copyguard COMMAND") || errOut != "" {
			t.Errorf("%s: %v, stdout %q, stderr %q", h, err, out, errOut)
		}
	}

	// A usage error is the error and one line saying where the usage
	// is, not a page of usage that pushes the error out of sight.
	out, errOut, err = cli(t, "frobnicate", "--x")
	if err == nil || err.Error() != `unknown command "frobnicate"` || !errors.As(err, &code) || code != 2 {
		t.Errorf("unknown command: %v", err)
	}
	if out != "" || errOut != "copyguard: unknown command \"frobnicate\"\nRun 'copyguard --help' for usage.\n" {
		t.Errorf("unknown command: stdout %q stderr %q", out, errOut)
	}

	// main turns these into exit statuses.
	for _, tt := range []struct {
		args   []string
		status int
		stderr string
	}{
		{nil, 2, "usage: copyguard COMMAND"},
		{[]string{"frobnicate"}, 2, "copyguard: unknown command \"frobnicate\"\nRun 'copyguard --help' for usage.\n"},
		{[]string{"run", "--frob"}, 2, "copyguard run: flag provided but not defined: -frob\nRun 'copyguard run --help' for usage.\n"},
		{[]string{"watch", "--count", "x"}, 2, "copyguard watch: invalid value \"x\" for flag -count: parse error\nRun 'copyguard watch --help' for usage.\n"},
		{[]string{"trigger", "--data", "{}"}, 2, "copyguard trigger: want one TYPE, got 0 (usage: copyguard trigger TYPE --data JSON)\nRun 'copyguard trigger --help' for usage.\n"},
		{[]string{"run", "--qps", "x"}, 1, "copyguard: config:\n--qps: \"x\" is not a number\n--policy: at least one"},
		{[]string{"version"}, 0, ""},
	} {
		cmd := exec.Command(os.Args[0], tt.args...)
		cmd.Env = append(cmd.Environ(), "COPYGUARD_TEST_MAIN=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		status := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != tt.status || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("copyguard %v: exit status %d, want %d; stderr:\n%s", tt.args, status, tt.status, stderr.String())
		}
	}
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestClientAuth: the client commands take NATS credentials from flags
// and NATS_* variables (a password only from the environment), and a
// refused one is named in the error without its secret.
func TestClientAuth(t *testing.T) {
	ns := natstest.StartWith(t, func(o *server.Options) { o.Username, o.Password = "operator", "right-pw" })
	url := ns.ClientURL()
	setupBus(t, strings.Replace(url, "nats://", "nats://operator:right-pw@", 1), "copyguard")

	t.Setenv("NATS_PASSWORD", "right-pw")
	if _, _, err := cli(t, "pause", "--nats-url", url, "--nats-user", "operator", "--reason", "auth test"); err != nil {
		t.Fatalf("pause with --nats-user and NATS_PASSWORD: %v", err)
	}
	t.Setenv("NATS_PASSWORD", "wrong-pw")
	_, _, err := cli(t, "resume", "--nats-url", url, "--nats-user", "operator")
	if err == nil || !strings.Contains(err.Error(), "with user/password (user operator)") || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("a wrong password: %v", err)
	}
	t.Setenv("NATS_PASSWORD", "")
	_, _, err = cli(t, "resume", "--nats-url", url)
	if err == nil || !strings.Contains(err.Error(), "with no credentials") {
		t.Errorf("no credentials: %v", err)
	}
}
