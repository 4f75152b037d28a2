package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runPolicyCmd runs `copyguard policy ARGS...` and returns the exit code
// main would use, with what was printed.
func runPolicyCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"policy"}, args...), &out, &errb)
	var ee exitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &ee):
		code = int(ee)
	default:
		code = 1
		errb.WriteString(err.Error())
	}
	return code, out.String(), errb.String()
}

func TestPolicyCheckExamples(t *testing.T) {
	code, out, errOut := runPolicyCmd(t, "check", "../../examples/policies")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"stop-copies-over-budget", "max_cancels=50", "active_for=6h released_by=region.released",
		"never-touch-golden-images", "protect", "budget.yaml:5", "5 policies, version "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if errOut != "" {
		t.Errorf("unexpected stderr: %s", errOut)
	}
}

func TestPolicyCheckBroken(t *testing.T) {
	code, out, errOut := runPolicyCmd(t, "check", "../../examples/policies/broken")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout should be empty on failure, got %q", out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5:\n%s", len(lines), errOut)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "../../examples/policies/broken/broken.yaml:") {
			t.Errorf("line not located in the file: %q", l)
		}
	}
	if !strings.Contains(lines[2], `broken.yaml:7:16: policy "stop-over-budget": match: undefined field 'tagz'`) {
		t.Errorf("CEL error not mapped to its column: %q", lines[2])
	}
}

func TestPolicyCheckMissingFile(t *testing.T) {
	code, _, errOut := runPolicyCmd(t, "check", filepath.Join(t.TempDir(), "nope.yaml"))
	if code != 1 || !strings.Contains(errOut, "nope.yaml: cannot read") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestPolicyTestExamples(t *testing.T) {
	code, out, errOut := runPolicyCmd(t, "test", "../../examples/policies")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "PASS: ") || !strings.HasSuffix(out, " passed, 0 failed\n") {
		t.Errorf("want only the PASS line without -v, got:\n%s", out)
	}
	code, out, _ = runPolicyCmd(t, "test", "-v", "../../examples/policies")
	if code != 0 || !strings.Contains(out, "--- PASS: ../../examples/policies/budget_test.yaml: ") {
		t.Errorf("-v should list passing cases; exit %d:\n%s", code, out)
	}
}

func TestPolicyTestFailure(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("p.yaml", `policies:
  - name: stop
    on: [region.quarantined]
    match: copy.region == trigger.data.region
    action: cancel
`)
	write("p_test.yaml", `cases:
  - name: right
    trigger: {type: region.quarantined, data: {region: r1}}
    copies: [{image_id: m-1, region: r1}]
    expect: {m-1: cancel}
  - name: wrong
    trigger: {type: region.quarantined, data: {region: r1}}
    copies: [{image_id: m-1, region: r1}, {image_id: m-2, region: r2}]
    expect: {m-1: protect, m-2: cancel}
`)
	code, out, _ := runPolicyCmd(t, "test", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	want := "--- FAIL: " + filepath.Join(dir, "p_test.yaml") + ": wrong\n" +
		"    r1/m-1: want protect, got cancel (selected by policy \"stop\")\n" +
		"    r2/m-2: want cancel, got none\n" +
		"FAIL: 1 passed, 1 failed\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestPolicyUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"check"}, {"test"}} {
		if code, _, errOut := runPolicyCmd(t, args...); code != 2 || !strings.Contains(errOut, "usage") {
			t.Errorf("policy %v: exit %d, stderr %q; want 2 and usage", args, code, errOut)
		}
	}
	if code, _, errOut := runPolicyCmd(t, "lint"); code != 2 || errOut != "copyguard policy: unknown policy command \"lint\"\nRun 'copyguard policy --help' for usage.\n" {
		t.Errorf("unknown subcommand: exit %d, stderr %q; want 2, the error and where the usage is", code, errOut)
	}
}

func TestPolicyShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		6 * time.Hour: "6h", 90 * time.Minute: "1h30m", 7 * 24 * time.Hour: "7d", 36 * time.Hour: "36h",
		45 * time.Second: "45s", time.Hour + 30*time.Second: "1h0m30s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
