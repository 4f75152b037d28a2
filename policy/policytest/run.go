package policytest

import (
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/policy"
)

// Result is the outcome of one case, or of a whole file that could not be
// run (then Case is empty and Failures says why).
type Result struct {
	File, Case string
	Failures   []string
}

// Passed reports whether the case passed.
func (r Result) Passed() bool { return len(r.Failures) == 0 }

// Summary counts results.
type Summary struct {
	Passed, Failed int
}

// Run runs the test files found in paths and writes a report to w:
// `--- FAIL: file: case` blocks with one line per mismatch, `--- PASS`
// lines too when verbose, and a final `PASS: n passed, m failed` or
// `FAIL: ...` line.
func Run(w io.Writer, paths []string, verbose bool) (Summary, error) {
	files, err := Find(paths...)
	if err != nil {
		return Summary{}, err
	}
	var sum Summary
	for _, f := range files {
		for _, r := range RunFile(f) {
			report(w, r, verbose)
			if r.Passed() {
				sum.Passed++
			} else {
				sum.Failed++
			}
		}
	}
	status := "PASS"
	if sum.Failed > 0 {
		status = "FAIL"
	}
	fmt.Fprintf(w, "%s: %d passed, %d failed\n", status, sum.Passed, sum.Failed)
	return sum, nil
}

func report(w io.Writer, r Result, verbose bool) {
	name := r.File
	if r.Case != "" {
		name += ": " + r.Case
	}
	if r.Passed() {
		if verbose {
			fmt.Fprintf(w, "--- PASS: %s\n", name)
		}
		return
	}
	fmt.Fprintf(w, "--- FAIL: %s\n", name)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "    %s\n", f)
	}
}

// RunFile runs every case of one test file.
func RunFile(name string) []Result {
	fail := func(msgs ...string) []Result { return []Result{{File: name, Failures: msgs}} }
	f, data, err := readFile(name)
	if err != nil {
		return fail(err.Error())
	}
	set, err := loadPolicies(name, data, f)
	if err != nil {
		var le *policy.LoadError
		if errors.As(err, &le) {
			msgs := make([]string, len(le.Problems))
			for i, p := range le.Problems {
				msgs[i] = p.String()
			}
			return fail(msgs...)
		}
		return fail(err.Error())
	}
	out := make([]Result, 0, len(f.Cases))
	for i := range f.Cases {
		c := &f.Cases[i]
		out = append(out, Result{File: name, Case: c.Name, Failures: runCase(set, c)})
	}
	return out
}

// loadPolicies compiles the policies a test file names and inlines; with
// neither, it loads the policy files of the test file's directory.
func loadPolicies(name string, data []byte, f *File) (*policy.Set, error) {
	dir := filepath.Dir(name)
	inline := f.Policies.Kind != 0
	if len(f.Load) == 0 && !inline {
		return policy.Load(dir)
	}
	var srcs []policy.Source
	if len(f.Load) > 0 {
		paths := make([]string, len(f.Load))
		for i, p := range f.Load {
			paths[i] = filepath.Join(dir, p)
		}
		read, err := policy.ReadSources(paths...)
		if err != nil {
			return nil, err
		}
		srcs = read
	}
	if inline {
		srcs = append(srcs, policy.Source{Name: name, Data: data, Embedded: true})
	}
	return policy.Compile(srcs...)
}

func runCase(set *policy.Set, c *Case) []string {
	t, err := c.trigger()
	if err != nil {
		return []string{err.Error()}
	}
	var opts []policy.EvalOption
	if c.Only != nil {
		for _, n := range c.Only {
			if set.Policy(n) == nil {
				return []string{fmt.Sprintf("only: no policy %q", n)}
			}
		}
		opts = append(opts, policy.OnlyPolicies(c.Only...))
	}
	copies := c.copies()
	plan := set.EvaluateCopies(t, copies, c.now(), opts...)
	var failures []string
	got := map[string]policy.Decision{}
	for _, d := range plan.Decisions {
		got[d.Copy.Key()] = d
	}
	slices.SortFunc(copies, func(a, b cloud.Copy) int { return strings.Compare(a.Key(), b.Key()) })
	for _, cp := range copies {
		want, err := c.expectationFor(cp)
		if err != nil {
			failures = append(failures, err.Error())
			continue
		}
		if msg := compare(cp.Key(), want, got[cp.Key()]); msg != "" {
			failures = append(failures, msg)
		}
	}
	for _, e := range c.expect {
		if !e.used {
			failures = append(failures, fmt.Sprintf("expect %s: matches no copy of the case", e.key))
		}
	}
	if c.Fired != nil && !slices.Equal(*c.Fired, plan.Fired) {
		failures = append(failures, fmt.Sprintf("fired: want %v, got %v", *c.Fired, plan.Fired))
	}
	if c.Errors != nil && *c.Errors != len(plan.Errors)+plan.ErrorsDropped {
		failures = append(failures, fmt.Sprintf("errors: want %d, got %d", *c.Errors, len(plan.Errors)+plan.ErrorsDropped))
	}
	if len(failures) > 0 {
		for _, e := range plan.Errors {
			where := ""
			if e.ImageID != "" {
				where = " on " + e.Region + "/" + e.ImageID
			}
			failures = append(failures, fmt.Sprintf("cel error: policy %q %s%s: %s", e.Policy, e.Field, where, e.Message))
		}
	}
	return failures
}

// expectationFor finds the expectation of a copy: an exact key (image_id
// or region/image_id) wins over patterns; two patterns must not both
// match. A copy nothing mentions is expected to get no decision.
func (c *Case) expectationFor(cp cloud.Copy) (*expectation, error) {
	var exact, pattern []*expectation
	for i := range c.expect {
		e := &c.expect[i]
		switch {
		case e.key == cp.ImageID || e.key == cp.Key():
			exact = append(exact, e)
		case matches(e.key, cp.ImageID) || matches(e.key, cp.Key()):
			pattern = append(pattern, e)
		}
	}
	for _, e := range append(exact, pattern...) {
		e.used = true
	}
	switch {
	case len(exact) > 1:
		return nil, fmt.Errorf("%s: more than one expect entry names it", cp.Key())
	case len(exact) == 1:
		return exact[0], nil
	case len(pattern) > 1:
		return nil, fmt.Errorf("%s: expect patterns %q and %q both match it", cp.Key(), pattern[0].key, pattern[1].key)
	case len(pattern) == 1:
		return pattern[0], nil
	}
	return &expectation{action: policy.ActionNone}, nil
}

func matches(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok && strings.ContainsAny(pattern, "*?[")
}

// compare returns a readable mismatch, or "".
func compare(key string, want *expectation, got policy.Decision) string {
	gotAction := got.Action // ActionNone when the copy has no decision
	var diffs []string
	if want.action != gotAction {
		diffs = append(diffs, fmt.Sprintf("want %s, got %s", want.action, gotAction))
	}
	if want.policies != nil && !slices.Equal(want.policies, nonNil(got.Policies)) {
		diffs = append(diffs, fmt.Sprintf("policies: want %v, got %v", want.policies, got.Policies))
	}
	if want.vetoed != nil && !slices.Equal(want.vetoed, nonNil(got.Vetoed)) {
		diffs = append(diffs, fmt.Sprintf("vetoed: want %v, got %v", want.vetoed, got.Vetoed))
	}
	if len(diffs) == 0 {
		return ""
	}
	msg := key + ": " + strings.Join(diffs, "; ")
	if got.Reason != "" {
		msg += " (" + got.Reason + ")"
	}
	return msg
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
