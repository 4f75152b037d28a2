package policytest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// TestFileProblemMessages runs one test file per way a test file can be
// wrong and checks the exact failure it is reported with: one result
// without a case, since the file cannot be run at all.
func TestFileProblemMessages(t *testing.T) {
	const inline = "policies: []\n"
	tests := []struct {
		name, body string
		want       string
	}{
		{"empty file", "", "no cases"},
		{"only comments", "# to do\n", "no cases"},
		{"null cases", inline + "cases:\n", "no cases"},
		{"empty cases", inline + "cases: []\n", "no cases"},
		{"unknown top-level key", "tests:\n  - trigger: {type: x}\n", "line 1: field tests not found"},
		{"unknown case key", inline + "cases:\n  - trigger: {type: x}\n    expected: {}\n", "line 4: field expected not found"},
		{"two unknown keys", inline + "cases:\n  - trigger: {type: x, kind: y}\n    copy: []\n",
			"line 3: field kind not found; line 4: field copy not found"},
		{"unknown copy key", inline + "cases:\n  - trigger: {type: x}\n    copies: [{image_id: m, region: r, zone: z}]\n",
			"line 4: field zone not found"},
		{"no trigger type", inline + "cases:\n  - name: a\n    trigger: {data: {}}\n", `line 3: case "a": trigger.type is required`},
		{"no trigger at all, unnamed second case", inline + "cases:\n  - trigger: {type: x}\n  -\n    copies: []\n",
			`line 5: case "case 2": trigger.type is required`},
		{"copy without region", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    copies: [{image_id: m}]\n",
			`line 3: case "a": every copy needs image_id and region`},
		{"copy without image_id", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    copies: [{region: r, count: 3}]\n",
			`line 3: case "a": every copy needs image_id and region`},
		{"expect a list", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    expect: [m-1]\n",
			`line 3: case "a": expect: must map copies (image_id or region/image_id) to actions`},
		{"expect a scalar", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    expect: cancel\n",
			`line 3: case "a": expect: must map copies (image_id or region/image_id) to actions`},
		{"expect a bad pattern", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    expect:\n      \"m-[\": cancel\n",
			`line 3: case "a": expect: line 6: bad pattern "m-["`},
		{"expect a list of actions", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    expect:\n      m-1: [cancel]\n",
			`line 3: case "a": expect: line 6: want an action or {action, policies, vetoed}`},
		{"expect an unknown action", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    expect:\n      m-1: cancelled\n",
			`line 3: case "a": expect: line 6: unknown action "cancelled" (want cancel, protect, held, planned or none)`},
		{"expect a decision without action", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    expect:\n      m-1: {policies: [p]}\n",
			`line 3: case "a": expect: line 6: unknown action "" (want cancel, protect, held, planned or none)`},
		{"expect a decision with an unknown key", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    expect:\n      m-1: {action: cancel, policy: [p]}\n",
			`line 3: case "a": expect: line 6: field policy not found`},
		{"expect a decision with an unknown key on its own line", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    expect:\n      m-1:\n        action: cancel\n        vetoes: [p]\n",
			`line 3: case "a": expect: line 8: field vetoes not found`},
		{"expect policies not a list", inline + "cases:\n  - name: a\n    trigger: {type: x}\n    expect:\n      m-1:\n        action: cancel\n        policies: p\n",
			`line 3: case "a": expect: line 8: cannot unmarshal !!str ` + "`p`" + `, want a list`},
		{"a list at the top", "- a\n- b\n", "line 1: cannot unmarshal !!seq, want a mapping"},
		{"copies not a list", inline + "cases:\n  - trigger: {type: x}\n    copies: 3\n", "line 4: cannot unmarshal !!int `3`, want a list"},
		{"a copy not a mapping", inline + "cases:\n  - trigger: {type: x}\n    copies: [m-1]\n", "line 4: cannot unmarshal !!str `m-1`, want a mapping"},
		{"progress not a number", inline + "cases:\n  - trigger: {type: x}\n    copies: [{image_id: m, region: r, progress: half}]\n", "line 4: cannot unmarshal !!str `half`, want a number"},
		{"errors not a number, fired not a list", inline + "cases:\n  - trigger: {type: x}\n    errors: some\n    fired: p\n",
			"line 4: cannot unmarshal !!str `some`, want a number; line 5: cannot unmarshal !!str `p`, want a list"},
		{"tags not a mapping", inline + "cases:\n  - trigger: {type: x}\n    copies: [{image_id: m, region: r, tags: [a]}]\n", "line 4: cannot unmarshal !!seq, want a mapping"},
		{"two documents", inline + "cases:\n  - trigger: {type: x}\n---\ncases:\n  - trigger: {type: y}\n",
			"line 5: a test file holds one YAML document; found another"},
		{"a broken second document", inline + "cases:\n  - trigger: {type: x}\n---\ncases: [\n",
			"line 5: did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := write(t, t.TempDir(), "x_test.yaml", tt.body)
			rs := RunFile(f)
			if len(rs) != 1 || rs[0].File != f || rs[0].Case != "" {
				t.Fatalf("got %+v, want one result for the whole file", rs)
			}
			if got := strings.Join(rs[0].Failures, "\n"); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestFileProblemsFromYAML checks failures whose text comes from yaml.v3
// or the time package; only their substance is ours to pin.
func TestFileProblemsFromYAML(t *testing.T) {
	tests := []struct {
		name, body string
		prefix     string
		contains   []string
	}{
		{"syntax error", "cases:\n  - name: a\n    trigger: {type: x\n", "line ", []string{"did not find expected ',' or '}'"}},
		{"bad now", "cases:\n  - trigger: {type: x}\n    now: yesterday\n", "", []string{`"yesterday"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := RunFile(write(t, t.TempDir(), "x_test.yaml", tt.body))
			if len(rs) != 1 || rs[0].Case != "" || len(rs[0].Failures) != 1 {
				t.Fatalf("got %+v, want one failure for the whole file", rs)
			}
			msg := rs[0].Failures[0]
			if !strings.HasPrefix(msg, tt.prefix) || strings.Contains(msg, "\n") || strings.Contains(msg, "policytest.") {
				t.Errorf("message %q: want one line starting %q, naming no Go type", msg, tt.prefix)
			}
			for _, c := range tt.contains {
				if !strings.Contains(msg, c) {
					t.Errorf("message %q does not contain %q", msg, c)
				}
			}
		})
	}
}

func TestRunFileMissing(t *testing.T) {
	f := filepath.Join(t.TempDir(), "gone_test.yaml")
	rs := RunFile(f)
	if len(rs) != 1 || rs[0].Passed() || !strings.Contains(rs[0].Failures[0], "no such file") {
		t.Errorf("got %+v", rs)
	}
}

// TestCaseDefaults checks what a case means when it leaves things out:
// its name, line, trigger id and source, evaluation time and copies.
func TestCaseDefaults(t *testing.T) {
	dir := t.TempDir()
	f, _, err := readFile(write(t, dir, "d_test.yaml", `# header
cases:
  - trigger: {type: x}
    copies:
      - {image_id: m, region: r, count: 3, progress: 40, size_gb: 7, tags: {team: a}, status: Available}
      - {image_id: n, region: r}
  - name: named case
    trigger: {type: x, id: t-1, source: s, time: 2025-03-01T00:00:00Z}
  - name: with now
    trigger: {type: x, time: 2025-03-01T00:00:00Z}
    now: 2025-04-01T00:00:00Z
    copies: [{image_id: z, region: r, count: 0}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c1, c2, c3 := &f.Cases[0], &f.Cases[1], &f.Cases[2]
	if c1.Name != "case 1" || c2.Name != "named case" {
		t.Errorf("names %q, %q", c1.Name, c2.Name)
	}
	if c1.Line != 3 || c2.Line != 7 || c3.Line != 9 {
		t.Errorf("lines %d, %d, %d", c1.Line, c2.Line, c3.Line)
	}
	tr, err := c1.trigger()
	if err != nil || tr.ID != "test-case-1" || tr.Source != "copyguard-policy-test" || tr.Type != "x" {
		t.Errorf("default trigger %+v, %v", tr, err)
	}
	if tr, _ := c2.trigger(); tr.ID != "t-1" || tr.Source != "s" {
		t.Errorf("given trigger %+v", tr)
	}
	mar, apr := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	if !c1.now().Equal(defaultNow) || !c2.now().Equal(mar) || !c3.now().Equal(apr) {
		t.Errorf("now: %v, %v, %v", c1.now(), c2.now(), c3.now())
	}

	cs := c1.copies()
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ImageID)
	}
	if !slices.Equal(ids, []string{"m-1", "m-2", "m-3", "n"}) {
		t.Fatalf("copies %v", ids)
	}
	for _, c := range cs[:3] {
		if c.Region != "r" || c.Progress != 40 || c.SizeGB != 7 || c.Tags["team"] != "a" || c.Status != "Available" {
			t.Errorf("expanded copy lost a field: %+v", c)
		}
	}
	if cs[3].Status != cloud.StatusCreating {
		t.Errorf("default status %q", cs[3].Status)
	}
	// count: 0 is one copy under its own name, as without count.
	if cs := c3.copies(); len(cs) != 1 || cs[0].ImageID != "z" {
		t.Errorf("count 0: %+v", cs)
	}
}

// TestTriggerDataThroughJSON: data reaches CEL as it would from a real
// event, and data JSON cannot carry fails the case, not the run.
func TestTriggerDataThroughJSON(t *testing.T) {
	f, _, err := readFile(write(t, t.TempDir(), "j_test.yaml", `cases:
  - name: numbers
    trigger: {type: x, data: {n: 3, big: 10000000000, list: [1, a], nested: {k: 2}}}
  - name: nan
    trigger: {type: x, data: {v: .nan}}
`))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := f.Cases[0].trigger()
	if err != nil {
		t.Fatal(err)
	}
	d := tr.Data
	if d["n"] != 3.0 || d["big"] != 1e10 || d["nested"].(map[string]any)["k"] != 2.0 {
		t.Errorf("data %#v", d)
	}
	if l := d["list"].([]any); l[0] != 1.0 || l[1] != "a" {
		t.Errorf("list %#v", l)
	}
	if _, err := f.Cases[1].trigger(); err == nil || !strings.HasPrefix(err.Error(), "trigger.data: ") {
		t.Errorf("NaN: %v", err)
	}
}

func TestFindKeepsGivenFilesAndOrder(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write(t, a, "z_test.yaml", "")
	write(t, a, "sub_test.yaml.bak", "")
	if err := os.Mkdir(filepath.Join(a, "d_test.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	given := write(t, b, "not-a-test-name.yaml", "")
	got, err := Find(given, a)
	want := []string{given, filepath.Join(a, "z_test.yaml")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Find = %v, %v; want %v", got, err, want)
	}
}

// TestDocumentMarkers: `---` before the one document, and an empty one
// after it (a trailing marker), are not a second document of cases.
func TestDocumentMarkers(t *testing.T) {
	for name, body := range map[string]string{
		"leading":  "---\npolicies: []\ncases:\n  - trigger: {type: x}\n",
		"trailing": "policies: []\ncases:\n  - trigger: {type: x}\n---\n",
		"end":      "policies: []\ncases:\n  - trigger: {type: x}\n...\n",
	} {
		t.Run(name, func(t *testing.T) {
			rs := RunFile(write(t, t.TempDir(), "m_test.yaml", body))
			if len(rs) != 1 || !rs[0].Passed() || rs[0].Case != "case 1" {
				t.Errorf("got %+v", rs)
			}
		})
	}
}
