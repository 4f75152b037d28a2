package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const onePolicy = `policies:
  - name: %s
    on: [budget.exceeded]
    match: copy.progress < 50
    action: cancel
`

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func policyNames(s *Set) []string {
	var out []string
	for _, p := range s.Policies() {
		out = append(out, p.Name)
	}
	return out
}

func named(name string) string { return strings.Replace(onePolicy, "%s", name, 1) }

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b.yaml":          named("b"),
		"a.yml":           named("a"),
		"a_test.yaml":     "cases: []",
		".hidden.yaml":    named("hidden"),
		"notes.txt":       "not yaml",
		"sub/c.yaml":      named("c"),
		"sub/broken.yaml": "policies: [",
	})
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := policyNames(set); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("policies %v; want a.yml then b.yaml, nothing else", got)
	}
	if p := set.Policy("a"); p == nil || p.File != filepath.Join(dir, "a.yml") || p.Line != 2 {
		t.Errorf("policy a located at %v", p)
	}
	if set.Policy("nope") != nil {
		t.Error("found a policy that does not exist")
	}
	// Files and directories mix; a file named twice is loaded once.
	set, err = Load(filepath.Join(dir, "sub", "c.yaml"), dir, filepath.Join(dir, "a.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := policyNames(set); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Errorf("policies %v", got)
	}
}

func TestLoadReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml": named("same") + "  - name: x\n    on: [budget.exceeded]\n    match: copy.nope\n    action: cancel\n",
		"b.yaml": named("same"),
		"c.yaml": "policies:\n  - name: y\n    on: budget.exceeded\n    match: copy.progress <\n    action: cancel\n",
	})
	_, err := Load(dir, filepath.Join(dir, "missing.yaml"), filepath.Join(t.TempDir()))
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err %v", err)
	}
	text := err.Error()
	for _, want := range []string{
		filepath.Join(dir, "a.yaml") + `:8:16: policy "x": match: undefined field 'nope'`,
		filepath.Join(dir, "b.yaml") + `:2:11: policy "same": name: duplicate policy name; first defined at ` + filepath.Join(dir, "a.yaml") + ":2",
		filepath.Join(dir, "c.yaml") + `:4:27: policy "y": match: syntax error`,
		filepath.Join(dir, "missing.yaml") + ": cannot read: no such file or directory",
		"no policy files (*.yaml, *.yml) in directory",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if len(le.Problems) != 5 {
		t.Errorf("%d problems:\n%s", len(le.Problems), text)
	}
	if _, err := Load(); err == nil {
		t.Error("Load() with no paths should fail")
	}
}

func TestVersion(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	files := map[string]string{"a.yaml": named("a"), "b.yaml": named("b")}
	writeFiles(t, d1, files)
	writeFiles(t, d2, files)
	s1, err1 := Load(d1)
	s2, err2 := Load(filepath.Join(d2, "b.yaml"), filepath.Join(d2, "a.yaml"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if s1.Version() != s2.Version() || len(s1.Version()) != 16 {
		t.Errorf("versions %q and %q should be equal 16-digit hashes", s1.Version(), s2.Version())
	}
	writeFiles(t, d2, map[string]string{"a.yaml": named("a") + "# a comment changes the version\n"})
	s3, err := Load(d2)
	if err != nil {
		t.Fatal(err)
	}
	if s3.Version() == s1.Version() {
		t.Error("changed content, same version")
	}
}

func TestParseFields(t *testing.T) {
	set := mustParse(t, `# leading comment
policies:
  - name: q
    description: quarantine
    on: [region.quarantined, "custom.type"]
    match: copy.region == trigger.data.region
    action: cancel
    max_cancels: 10
    dry_run: true
    active_for: 1d12h
    released_by: region.released
    enabled: false
  - name: single-on
    on: budget.exceeded
    when: trigger.data.percent > 0
    match: "true"
    action: protect
---
policies:
  - name: second-document
    on: ["*"]
    match: "false"
    action: cancel
`)
	q := set.Policy("q")
	want := Policy{Name: "q", Description: "quarantine", On: []string{"region.quarantined", "custom.type"},
		Match: "copy.region == trigger.data.region", Action: ActionCancel, MaxCancels: 10, DryRun: true,
		ActiveFor: 36 * time.Hour, ReleasedBy: "region.released", Enabled: false, File: "test.yaml", Line: 3}
	got := *q
	got.match, got.terms = nil, nil
	if !q.Indexed() {
		t.Error("q should be indexed by region")
	}
	if !reflectEqualPolicy(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	s := set.Policy("single-on")
	if !slices.Equal(s.On, []string{"budget.exceeded"}) || s.When != "trigger.data.percent > 0" || !s.Enabled || s.Action != ActionProtect {
		t.Errorf("single-on: %+v", s)
	}
	if set.Policy("second-document") == nil {
		t.Error("policies of a second YAML document are loaded too")
	}
}

func reflectEqualPolicy(a, b Policy) bool {
	return a.Name == b.Name && a.Description == b.Description && slices.Equal(a.On, b.On) && a.When == b.When &&
		a.Match == b.Match && a.Action == b.Action && a.MaxCancels == b.MaxCancels && a.DryRun == b.DryRun &&
		a.ActiveFor == b.ActiveFor && a.ReleasedBy == b.ReleasedBy && a.Enabled == b.Enabled && a.File == b.File && a.Line == b.Line
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "6h": 6 * time.Hour, "7d": 7 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "1.5h": 90 * time.Minute} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "0s", "-1h", "d", "1x", "6 hours", "1d-25h", "99999d"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestActionStrings(t *testing.T) {
	for a := ActionNone; a <= ActionPlan; a++ {
		back, err := ParseAction(a.String())
		if err != nil || back != a {
			t.Errorf("%v round trip: %v %v", a, back, err)
		}
	}
	if _, err := ParseAction("cancelled"); err == nil {
		t.Error("cancelled is not an action")
	}
	if Action(42).String() != "Action(42)" {
		t.Error(Action(42).String())
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Line: 3, Col: 7, Policy: "x", Field: "match", Message: "bad"}, `a.yaml:3:7: policy "x": match: bad`},
		{Problem{File: "a.yaml", Line: 3, Index: 2, Message: "bad"}, `a.yaml:3: policy #2: bad`},
		{Problem{File: "a.yaml", Message: "cannot read"}, `a.yaml: cannot read`},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestUnicodeColumns(t *testing.T) {
	// Columns count characters, as editors and yaml.v3 do, not bytes.
	_, err := Parse("u.yaml", []byte("policies:\n  - name: ü\n    description: ünïcödé\n    on: [x.y]\n    match: copy.name == \"日本\" && copy.nmae == \"x\"\n    action: cancel\n"))
	if err == nil || !strings.Contains(err.Error(), `u.yaml:2:11: policy #1: name: "ü": use letters`) ||
		!strings.Contains(err.Error(), `u.yaml:5:37: policy #1: match: undefined field 'nmae'`) {
		t.Errorf("got %v", err)
	}
}
