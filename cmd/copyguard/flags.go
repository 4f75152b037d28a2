package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/copyguard/copyguard/policy/suggest"
)

// parse is fs.Parse with help for a mistyped flag: the flag package's own
// complaint and usage, with the nearest defined flag added to the
// complaint and to the error ("did you mean --policy?"). Every command
// parses through it.
func parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if hint := flagHint(fs, err.Error()); hint != "" {
			// The first line the flag package printed is err's text.
			if first, rest, ok := strings.Cut(buf.String(), "\n"); ok && first == err.Error() {
				buf.Reset()
				buf.WriteString(first + hint + "\n" + rest)
			}
			err = fmt.Errorf("%w%s", err, hint)
		}
	}
	_, _ = buf.WriteTo(out)
	return err
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
