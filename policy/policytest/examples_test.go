package policytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplesRunEveryCase runs each example test file on its own: every
// case it lists runs and passes, under its own name.
func TestExamplesRunEveryCase(t *testing.T) {
	files, err := Find("../../examples/policies")
	if err != nil || len(files) < 4 {
		t.Fatalf("Find: %v %v", files, err)
	}
	for _, f := range files {
		parsed, _, err := readFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rs := RunFile(f)
		if want := len(parsed.Cases); len(rs) != want {
			t.Errorf("%s: %d results, want one per case (%d)", f, len(rs), want)
		}
		for _, r := range rs {
			if !r.Passed() || r.Case == "" || strings.HasPrefix(r.Case, "case ") {
				t.Errorf("%s: %+v", f, r)
			}
		}
	}
}

// TestExamplesCanFail copies the examples and loosens budget.yaml's
// blast-radius limit: the example tests must notice.
func TestExamplesCanFail(t *testing.T) {
	dir := t.TempDir()
	srcs, _ := filepath.Glob("../../examples/policies/*.yaml")
	for _, p := range srcs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(p) == "budget.yaml" {
			b = []byte(strings.Replace(string(b), "max_cancels: 50", "max_cancels: 70", 1))
		}
		write(t, dir, filepath.Base(p), string(b))
	}
	sum, out := runDir(t, false, dir)
	want := "--- FAIL: " + filepath.Join(dir, "budget_test.yaml") + ": a budget that would stop more than 50 copies holds instead\n"
	if sum.Failed != 1 || !strings.HasPrefix(out, want) || !strings.Contains(out, "want held, got cancel") {
		t.Errorf("%+v\n%s", sum, out)
	}
}
