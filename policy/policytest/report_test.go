package policytest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerboseOutput pins the go-test-like report: PASS lines only with
// -v, in file then case order, a FAIL block per failing case or file,
// and the summary counting a file that cannot run as one failure.
func TestVerboseOutput(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "q.yaml", quarantinePolicy)
	a := write(t, dir, "a_test.yaml", `cases:
  - name: first
    trigger: {type: region.quarantined, data: {region: r1}}
    copies: [{image_id: m, region: r1}]
    expect: {m: cancel}
  - name: second
    trigger: {type: region.quarantined, data: {region: r1}}
    copies: [{image_id: m, region: r1}]
    expect: {m: none}
  - trigger: {type: other}
`)
	b := write(t, dir, "b_test.yaml", "cases: []\n")
	for _, verbose := range []bool{true, false} {
		var out bytes.Buffer
		sum, err := Run(&out, []string{dir}, verbose)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Passed != 2 || sum.Failed != 2 {
			t.Errorf("verbose=%v: summary %+v", verbose, sum)
		}
		want := ""
		if verbose {
			want += "--- PASS: " + a + ": first\n"
		}
		want += "--- FAIL: " + a + ": second\n" +
			"    r1/m: want none, got cancel (selected by policy \"q\")\n"
		if verbose {
			want += "--- PASS: " + a + ": case 3\n"
		}
		want += "--- FAIL: " + b + "\n    no cases\nFAIL: 2 passed, 2 failed\n"
		if out.String() != want {
			t.Errorf("verbose=%v: got\n%s\nwant\n%s", verbose, out.String(), want)
		}
	}
}

func TestRunAllPass(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "q.yaml", quarantinePolicy)
	write(t, dir, "q_test.yaml", "cases:\n  - trigger: {type: nothing.listens}\n    copies: [{image_id: m, region: r1}]\n")
	sum, out := runDir(t, false, dir)
	if sum.Passed != 1 || sum.Failed != 0 || out != "PASS: 1 passed, 0 failed\n" {
		t.Errorf("%+v %q", sum, out)
	}
}

func TestRunBadPathWritesNothing(t *testing.T) {
	var out bytes.Buffer
	_, err := Run(&out, []string{filepath.Join(t.TempDir(), "nope")}, true)
	if err == nil || out.Len() != 0 {
		t.Errorf("err %v, output %q", err, out.String())
	}
}

// TestExpectationDiffs: every way a decision can differ from what a case
// expects, one line per copy, sorted by region/image_id, with the
// decision's reason; and the CEL errors of a failing case after them.
func TestExpectationDiffs(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "p.yaml", `policies:
  - name: cap
    on: [x]
    match: copy.tags.?team.orValue("") == "a"
    action: cancel
    max_cancels: 1
  - name: dry
    on: [x]
    match: copy.tags.?team.orValue("") == "b"
    action: cancel
    dry_run: true
  - name: gold
    on: ["*"]
    match: copy.tags["gold"] == "yes"
    action: protect
`)
	f := write(t, dir, "p_test.yaml", `cases:
  - name: diffs
    trigger: {type: x}
    copies:
      - {image_id: a, count: 2, region: r2, tags: {team: a, gold: "no"}}
      - {image_id: b, region: r1, tags: {team: b, gold: "no"}}
      - {image_id: g, region: r1, tags: {team: b, gold: "yes"}}
    expect:
      r2/a-1: held
      a-2: {action: cancel, policies: [cap, dry]}
      b: {action: planned, policies: [dry], vetoed: [gold]}
      g: {action: protect, policies: [cap], vetoed: []}
  - name: two exact keys
    trigger: {type: x}
    copies: [{image_id: b, region: r1, tags: {team: b, gold: "no"}}]
    expect: {b: planned, r1/b: planned}
`)
	sum, out := runDir(t, false, f)
	if sum.Failed != 2 || sum.Passed != 0 {
		t.Errorf("summary %+v", sum)
	}
	want := "--- FAIL: " + f + ": diffs\n" +
		`    r1/b: vetoed: want [gold], got [] (dry run: policy "dry" would cancel it)` + "\n" +
		`    r1/g: policies: want [cap], got [dry]; vetoed: want [], got [gold] (protected by policy "gold" against policy "dry")` + "\n" +
		`    r2/a-2: want cancel, got held; policies: want [cap dry], got [cap] (held: policy "cap" selected 2 copies, max_cancels is 1)` + "\n" +
		"--- FAIL: " + f + ": two exact keys\n" +
		"    r1/b: more than one expect entry names it\n" +
		"FAIL: 0 passed, 2 failed\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

// TestCELErrorsListedOnFailure: run-time errors are reported under a
// failing case, where they explain it, and not under a passing one.
func TestCELErrorsListedOnFailure(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "p.yaml", `policies:
  - name: team
    on: [x]
    # Behind a function call, so not indexed: every copy is evaluated.
    match: copy.tags["team"].startsWith(trigger.data.team)
    action: cancel
  - name: gate
    on: [x]
    when: trigger.data.level > 2.0
    match: "true"
    action: cancel
`)
	f := write(t, dir, "p_test.yaml", `cases:
  - name: expected errors pass quietly
    trigger: {type: x, data: {team: a, level: 1}}
    copies: [{image_id: m, region: r}]
    errors: 1
  - name: an error explains a miss
    trigger: {type: x, data: {team: a}}
    copies: [{image_id: m, region: r, tags: {team: a}}, {image_id: n, region: r}]
    expect: {m: cancel, n: cancel}
`)
	_, out := runDir(t, true, f)
	want := "--- PASS: " + f + ": expected errors pass quietly\n" +
		"--- FAIL: " + f + ": an error explains a miss\n" +
		"    r/n: want cancel, got none\n" +
		`    cel error: policy "gate" when: no such key: level` + "\n" +
		`    cel error: policy "team" match on r/n: no such key: team` + "\n" +
		"FAIL: 1 passed, 1 failed\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

// TestCopyFieldsAndNow: a case's copies reach CEL with every field, and
// now is the case's, the trigger's time, or the fixed default.
func TestCopyFieldsAndNow(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "p.yaml", `policies:
  - name: stale
    on: [x]
    match: >-
      copy.status == "Creating" && copy.progress < 50 && copy.size_gb >= 100 &&
      copy.tags.?env.orValue("") == "dev" && copy.source_region == "cn-a" &&
      copy.source_image_id == "m-src" && copy.name == "nightly" &&
      copy.resource_group_id == "rg-1" && now - copy.started_at > duration("24h")
    action: cancel
`)
	f := write(t, dir, "p_test.yaml", `cases:
  - name: default now is 2025-01-01
    trigger: {type: x}
    copies:
      - {image_id: old, region: r, source_region: cn-a, source_image_id: m-src, name: nightly,
         resource_group_id: rg-1, progress: 10, size_gb: 100, tags: {env: dev}, started_at: 2024-12-30T00:00:00Z}
      - {image_id: new, region: r, source_region: cn-a, source_image_id: m-src, name: nightly,
         resource_group_id: rg-1, progress: 10, size_gb: 100, tags: {env: dev}, started_at: 2024-12-31T12:00:00Z}
      - {image_id: done, region: r, status: Available, source_region: cn-a, source_image_id: m-src, name: nightly,
         resource_group_id: rg-1, progress: 10, size_gb: 100, tags: {env: dev}, started_at: 2024-12-30T00:00:00Z}
      - {image_id: far, region: r, source_region: cn-a, source_image_id: m-src, name: nightly,
         resource_group_id: rg-1, progress: 50, size_gb: 100, tags: {env: dev}, started_at: 2024-12-30T00:00:00Z}
    expect: {old: cancel}
  - name: the trigger's time is now
    trigger: {type: x, time: 2025-01-02T00:00:00Z}
    copies:
      - {image_id: new, region: r, source_region: cn-a, source_image_id: m-src, name: nightly,
         resource_group_id: rg-1, progress: 10, size_gb: 100, tags: {env: dev}, started_at: 2024-12-31T12:00:00Z}
    expect: {new: cancel}
  - name: now wins over the trigger's time
    trigger: {type: x, time: 2025-01-02T00:00:00Z}
    now: 2025-01-01T00:00:00Z
    copies:
      - {image_id: new, region: r, source_region: cn-a, source_image_id: m-src, name: nightly,
         resource_group_id: rg-1, progress: 10, size_gb: 100, tags: {env: dev}, started_at: 2024-12-31T12:00:00Z}
    expect: {}
    errors: 0
`)
	if sum, out := runDir(t, true, f); sum.Failed != 0 || sum.Passed != 3 {
		t.Errorf("%+v\n%s", sum, out)
	}
}

// TestPolicySources: where the policies of a test file come from, and
// how a test file reports policies it cannot have.
func TestPolicySources(t *testing.T) {
	t.Run("no policy files beside the test", func(t *testing.T) {
		dir := t.TempDir()
		f := write(t, dir, "x_test.yaml", "cases:\n  - trigger: {type: x}\n")
		rs := RunFile(f)
		if len(rs) != 1 || rs[0].Case != "" || !strings.Contains(rs[0].Failures[0], "no policy files") {
			t.Errorf("got %+v", rs)
		}
	})
	t.Run("a broken policy file lists every problem", func(t *testing.T) {
		dir := t.TempDir()
		p := write(t, dir, "p.yaml", "policies:\n  - name: a\n    on: [x]\n    match: copy.nmae\n    action: stop\n")
		rs := RunFile(write(t, dir, "x_test.yaml", "cases:\n  - trigger: {type: x}\n"))
		want := []string{
			p + `:4:16: policy "a": match: undefined field 'nmae'`,
			p + `:5:13: policy "a": action: unknown action "stop"; want cancel or protect`,
		}
		if len(rs) != 1 || strings.Join(rs[0].Failures, "\n") != strings.Join(want, "\n") {
			t.Errorf("got %q\nwant %q", rs[0].Failures, want)
		}
	})
	t.Run("a duplicate between loaded and inline policies", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "q.yaml", quarantinePolicy)
		f := write(t, dir, "x_test.yaml", "load: [q.yaml]\npolicies:\n  - name: q\n    on: [x]\n    match: \"true\"\n    action: cancel\ncases:\n  - trigger: {type: x}\n")
		rs := RunFile(f)
		if len(rs) != 1 || rs[0].Case != "" || !strings.HasPrefix(rs[0].Failures[0], f+":3:") ||
			!strings.Contains(rs[0].Failures[0], "duplicate") {
			t.Errorf("got %+v", rs)
		}
	})
	t.Run("load takes a directory", func(t *testing.T) {
		dir := t.TempDir()
		sub := filepath.Join(dir, "policies")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, sub, "q.yaml", quarantinePolicy)
		f := write(t, dir, "x_test.yaml", "load: [policies]\ncases:\n  - trigger: {type: region.quarantined, data: {region: r}}\n    copies: [{image_id: m, region: r}]\n    expect: {m: cancel}\n")
		if rs := RunFile(f); len(rs) != 1 || !rs[0].Passed() {
			t.Errorf("got %+v", rs)
		}
	})
	// only names cancel policies; a protect policy in it does not take
	// the others' place, and protect policies apply anyway.
	t.Run("only names a protect policy", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "q.yaml", quarantinePolicy)
		f := write(t, dir, "x_test.yaml", `cases:
  - trigger: {type: region.quarantined, data: {region: r}}
    only: [gold]
    copies: [{image_id: m, region: r}, {image_id: g, region: r, tags: {protect: "true"}}]
    expect: {}
    fired: [gold]
`)
		if rs := RunFile(f); len(rs) != 1 || !rs[0].Passed() {
			t.Errorf("got %+v", rs)
		}
	})
}
