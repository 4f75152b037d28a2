package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"

	"github.com/copyguard/copyguard/policy/suggest"
)

// parse is fs.Parse for every command. -h and --help print the full usage
// to the flag set's output (each command sets it to stdout) and return
// flag.ErrHelp. Any other problem prints nothing and returns a
// *usageError: the flag package's complaint, with the nearest defined flag
// for a mistyped one ("did you mean --policy?"). The dispatcher prints it
// with one line pointing at --help, and exits 2.
func parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		_, _ = buf.WriteTo(out)
		return err
	}
	if err != nil {
		return usageErrorf(fs, "%s%s", err, flagHint(fs, err.Error()))
	}
	return nil
}

// usageError is a command line that cannot be run as given: a flag the
// command does not have, a value it cannot read, a missing or extra
// argument. run prints it as
//
//	copyguard CMD: MESSAGE
//	Run 'copyguard CMD --help' for usage.
//
// and the process exits 2, the way go and kubectl report such mistakes:
// the error stays the last thing on the screen instead of sitting above
// a page of usage.
type usageError struct {
	cmd string // "run", "policy check"
	msg string
}

func (e *usageError) Error() string { return e.msg }

// As lets errors.As(err, &exitError) see a usage error as exit status 2.
func (e *usageError) As(target any) bool {
	if p, ok := target.(*exitError); ok {
		*p = 2
		return true
	}
	return false
}

// usageErrorf makes a usage error of the command that fs parses.
func usageErrorf(fs *flag.FlagSet, format string, args ...any) error {
	return &usageError{cmd: commandName(fs.Name()), msg: fmt.Sprintf(format, args...)}
}

// commandName is the command part of a flag set's name: "copyguard
// trigger TYPE" is "trigger", "copyguard policy check" is "policy check".
func commandName(fsName string) string {
	var words []string
	for _, w := range strings.Fields(strings.TrimPrefix(fsName, "copyguard ")) {
		if strings.ToLower(w) != w {
			break // an argument's placeholder: TYPE, REGION/IMAGE_ID
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}

// printUsageError writes a usage error the way go and kubectl do: the
// problem, then one line saying where the usage is.
func printUsageError(w io.Writer, ue *usageError) {
	cmd := "copyguard"
	if ue.cmd != "" {
		cmd += " " + ue.cmd
	}
	fmt.Fprintf(w, "%s: %s\nRun '%s --help' for usage.\n", cmd, ue.msg, cmd)
}

// flagHint returns " (did you mean --x?)" for the flag package's message
// about an undefined flag, or "".
func flagHint(fs *flag.FlagSet, msg string) string {
	name, ok := strings.CutPrefix(msg, "flag provided but not defined: -")
	if !ok {
		return ""
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if best := suggest.Closest(strings.TrimLeft(name, "-"), names); best != "" {
		return fmt.Sprintf(" (did you mean --%s?)", best)
	}
	return ""
}

// didYouMean returns " (did you mean x?)" for the choice nearest to got,
// or "".
func didYouMean(got string, choices []string) string {
	if best := suggest.Closest(got, choices); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}

// defaultBy is who runs the command, as audit events record it:
// user@host.
func defaultBy() string {
	name := os.Getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return name + "@" + host
}
