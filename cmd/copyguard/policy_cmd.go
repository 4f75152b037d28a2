package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/copyguard/copyguard/policy"
	"github.com/copyguard/copyguard/policy/policytest"
)

const policyUsage = `usage:
  copyguard policy check PATH...     load and type-check policy files or directories
  copyguard policy test [-v] PATH... run policy test files (*_test.yaml)
`

// runPolicy dispatches `copyguard policy check` and `copyguard policy test`.
func runPolicy(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{cmd: "policy", msg: "want a subcommand: check or test"}
	}
	switch args[0] {
	case "check":
		return policyCheck(args[1:], stdout, stderr)
	case "test":
		return policyTest(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, policyUsage)
		return nil
	}
	return &usageError{cmd: "policy", msg: fmt.Sprintf("unknown policy command %q%s", args[0], didYouMean(args[0], []string{"check", "test"}))}
}

// policyCheck prints every problem to stderr (exit 1), or one line per
// policy to stdout (exit 0).
func policyCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copyguard policy check", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: copyguard policy check PATH...\n\n"+
			"Load and type-check policy files or directories. Prints one line per policy and the set's\n"+
			"version, or every problem as file:line:col on stderr (exit 1).\n")
	}
	if done, err := parsePaths(fs, args); done {
		return err
	}
	set, err := policy.Load(fs.Args()...)
	if err != nil {
		var le *policy.LoadError
		if !errors.As(err, &le) {
			return err
		}
		// Load sorts its problems by file, line and column.
		for _, p := range le.Problems {
			fmt.Fprintln(stderr, p)
		}
		return exitError(1)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, p := range set.Policies() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s:%d\n", p.Name, strings.Join(p.On, ","), p.Action, limits(p), p.File, p.Line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d policies, version %s\n", len(set.Policies()), set.Version())
	return nil
}

// limits summarises the knobs that change what a policy does.
func limits(p *policy.Policy) string {
	var parts []string
	if p.MaxCancels > 0 {
		parts = append(parts, fmt.Sprintf("max_cancels=%d", p.MaxCancels))
	}
	if p.DryRun {
		parts = append(parts, "dry_run")
	}
	if p.ActiveFor > 0 {
		parts = append(parts, "active_for="+shortDuration(p.ActiveFor))
	}
	if p.ReleasedBy != "" {
		parts = append(parts, "released_by="+p.ReleasedBy)
	}
	if !p.Enabled {
		parts = append(parts, "disabled")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// shortDuration prints 6h rather than 6h0m0s, and whole days as 7d.
func shortDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// policyTest runs test files and exits 1 when a case fails.
func policyTest(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copyguard policy test", flag.ContinueOnError)
	fs.SetOutput(stdout)
	verbose := fs.Bool("v", false, "list passing cases too")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: copyguard policy test [-v] PATH...\n\nPATH is a test file or a directory of *_test.yaml files.\n")
		fs.PrintDefaults()
	}
	if done, err := parsePaths(fs, args); done {
		return err
	}
	sum, err := policytest.Run(stdout, fs.Args(), *verbose)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError(1)
	}
	if sum.Failed > 0 {
		return exitError(1)
	}
	return nil
}

// parsePaths parses a policy command's flags, which must leave at least
// one path. done says the command ends here, with err (nil after -h).
func parsePaths(fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, err
	}
	if fs.NArg() == 0 {
		return true, usageErrorf(fs, "no PATH given")
	}
	return false, nil
}
