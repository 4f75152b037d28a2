package policy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files under testdata")

// TestLoadErrorsGolden loads every testdata/errors/*.yaml and compares the
// exact problem text with the .golden file beside it.
func TestLoadErrorsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no error cases: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(filepath.Base(file), src)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse returned %v, want a *LoadError", err)
			}
			checkProblems(t, le.Problems)
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", err.Error()+"\n")
		})
	}
}

// checkProblems asserts what every problem must satisfy, whatever the case.
func checkProblems(t *testing.T, ps []Problem) {
	t.Helper()
	if len(ps) == 0 {
		t.Fatal("no problems")
	}
	for _, p := range ps {
		if p.File == "" || p.Message == "" {
			t.Errorf("incomplete problem %#v", p)
		}
		if p.Line < 0 || p.Col < 0 || (p.Col > 0 && p.Line == 0) {
			t.Errorf("bad position in %#v", p)
		}
		if strings.Contains(p.Message, "\n") {
			t.Errorf("multi-line message in %#v", p)
		}
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestBrokenExample keeps the README's five-mistake example honest: it
// must yield exactly five located problems.
func TestBrokenExample(t *testing.T) {
	_, err := Load("../examples/policies/broken")
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Load returned %v, want a *LoadError", err)
	}
	checkProblems(t, le.Problems)
	if len(le.Problems) != 5 {
		t.Errorf("got %d problems, want 5:\n%v", len(le.Problems), err)
	}
	for _, p := range le.Problems {
		if p.Line == 0 || p.Col == 0 {
			t.Errorf("problem without a position: %s", p)
		}
	}
	checkGolden(t, "testdata/broken.golden", err.Error()+"\n")
}
