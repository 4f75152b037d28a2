package policytest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runDir(t *testing.T, verbose bool, paths ...string) (Summary, string) {
	t.Helper()
	var out bytes.Buffer
	sum, err := Run(&out, paths, verbose)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sum, out.String()
}

func TestExamplesPass(t *testing.T) {
	sum, out := runDir(t, true, "../../examples/policies")
	if sum.Failed != 0 || sum.Passed < 10 {
		t.Fatalf("%+v\n%s", sum, out)
	}
	if !strings.HasSuffix(out, fmt.Sprintf("PASS: %d passed, 0 failed\n", sum.Passed)) {
		t.Errorf("summary line:\n%s", out)
	}
}

const quarantinePolicy = `policies:
  - name: q
    on: [region.quarantined]
    match: copy.region == trigger.data.region
    action: cancel
    max_cancels: 3
  - name: gold
    on: ["*"]
    match: copy.tags.?protect.orValue("") == "true"
    action: protect
`

func TestFailuresAreReported(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "q.yaml", quarantinePolicy)
	f := write(t, dir, "q_test.yaml", `cases:
  - name: all good
    trigger: {type: region.quarantined, data: {region: r1}}
    copies:
      - {image_id: m, count: 2, region: r1}
      - {image_id: g, region: r1, tags: {protect: "true"}}
      - {image_id: x, region: r2}
    expect:
      "m-*": {action: cancel, policies: [q]}
      g: {action: protect, policies: [q], vetoed: [gold]}
    fired: [q, gold]
    errors: 0
  - name: held above the limit
    trigger: {type: region.quarantined, data: {region: r1}}
    copies: [{image_id: m, count: 4, region: r1}]
    expect: {"r1/m-*": held}
  - name: everything wrong
    trigger: {type: region.quarantined, data: {region: r1}}
    copies:
      - {image_id: m-1, region: r1}
      - {image_id: m-2, region: r2}
    expect:
      m-1: {action: cancel, policies: [other]}
      m-2: planned
      m-9: cancel
    fired: [q]
    errors: 2
  - name: ambiguous patterns
    trigger: {type: region.quarantined, data: {region: r1}}
    copies: [{image_id: m-1, region: r1}]
    expect: {"m-*": cancel, "*-1": cancel}
  - name: unknown only
    trigger: {type: region.quarantined, data: {region: r1}}
    only: [nope]
    copies: [{image_id: m-1, region: r1}]
`)
	sum, out := runDir(t, false, dir)
	if sum.Passed != 2 || sum.Failed != 3 {
		t.Errorf("summary %+v", sum)
	}
	want := `--- FAIL: ` + f + `: everything wrong
    r1/m-1: policies: want [other], got [q] (selected by policy "q")
    r2/m-2: want planned, got none
    expect m-9: matches no copy of the case
    fired: want [q], got [q gold]
    errors: want 2, got 0
--- FAIL: ` + f + `: ambiguous patterns
    r1/m-1: expect patterns "m-*" and "*-1" both match it
--- FAIL: ` + f + `: unknown only
    only: no policy "nope"
FAIL: 2 passed, 3 failed
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestFileProblems(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown_key_test.yaml": "cases:\n  - name: a\n    trigger: {type: x}\n    expect: {}\n    expected: {}\n",
		"no_type_test.yaml":     "cases:\n  - name: a\n    trigger: {data: {}}\n",
		"bad_action_test.yaml":  "cases:\n  - name: a\n    trigger: {type: x}\n    expect: {m-1: cancelled}\n",
		"no_cases_test.yaml":    "policies: []\n",
		"bad_inline_test.yaml":  "policies:\n  - name: p\n    on: [x]\n    match: copy.nope\n    action: cancel\ncases:\n  - trigger: {type: x}\n",
		"bad_load_test.yaml":    "load: [missing.yaml]\ncases:\n  - trigger: {type: x}\n",
	} {
		write(t, dir, name, body)
	}
	sum, out := runDir(t, false, dir)
	if sum.Failed != 6 || sum.Passed != 0 {
		t.Errorf("summary %+v\n%s", sum, out)
	}
	for _, want := range []string{
		"line 5: field expected not found",
		`line 2: case "a": trigger.type is required`,
		`unknown action "cancelled"`,
		"no cases",
		filepath.Join(dir, "bad_inline_test.yaml") + `:4:16: policy "p": match: undefined field 'nope'`,
		filepath.Join(dir, "missing.yaml") + ": cannot read",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestInlineAndLoadedPoliciesAndJSONNumbers(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "q.yaml", quarantinePolicy)
	write(t, dir, "mixed_test.yaml", `load: [q.yaml]
policies:
  - name: doubles
    on: [count]
    match: type(trigger.data.n) == double && trigger.data.n == 3 && copy.started_at < now
    action: cancel
cases:
  - name: data numbers are doubles, as from JSON
    trigger: {type: count, data: {n: 3}, time: 2025-06-01T00:00:00Z}
    copies: [{image_id: m-1, region: r1, started_at: 2025-05-31T00:00:00Z}]
    expect: {m-1: cancel}
    fired: [gold, doubles]
`)
	if sum, out := runDir(t, false, dir); sum.Failed != 0 || sum.Passed != 1 {
		t.Errorf("%+v\n%s", sum, out)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b_test.yaml", "")
	write(t, dir, "a_test.yml", "")
	write(t, dir, "policy.yaml", "")
	got, err := Find(dir)
	if err != nil || len(got) != 2 || filepath.Base(got[0]) != "a_test.yml" || filepath.Base(got[1]) != "b_test.yaml" {
		t.Errorf("Find: %v %v", got, err)
	}
	if _, err := Find(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no policy test files") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := Find(filepath.Join(dir, "nope")); err == nil {
		t.Error("missing path: no error")
	}
}
