// Command copyguard stops Alibaba Cloud ECS image copies when a policy says
// so. See the README for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: it parses its own flags from args and writes
// to stdout/stderr. A returned exitError sets the exit status without an
// extra message.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"run":        {"run the worker", runWorker},
		"demo":       {"show the whole loop on this machine, with embedded NATS and the ECS simulator", runDemo},
		"policy":     {"check policies (policy check PATH...) or run policy tests (policy test PATH...)", runPolicy},
		"trigger":    {"publish a trigger: trigger TYPE --data JSON", runTrigger},
		"watch":      {"follow decisions and results", runWatch},
		"pause":      {"turn every cancel into held, without stopping the workers: pause --reason R", runPause},
		"resume":     {"lift the pause: resume --reason R", runResume},
		"copies":     {"list the inventory as the fleet sees it, with each copy's claim", runCopies},
		"conditions": {"list the active conditions (quarantines and the like)", runConditions},
		"plan":       {"show what a trigger would do to the inventory, acting on nothing: plan TYPE --data JSON --policy PATH", runPlan},
		"claims":     {"list the claims (one per decided copy)", runClaims},
		"release":    {"delete a copy's claim so it can be decided again: release REGION/IMAGE_ID --reason R", runRelease},
		"ecssim":     {"serve the ECS API simulator", runECSSim},
		"bench":      {"measure trigger-to-cancel latency and throughput on this machine", runBench},
		"version":    {"print version, commit and Go version", runVersion},
	}
}

// exitError carries an exit status for a failure that was already
// reported. A *usageError counts as one (exit status 2) once run has
// printed it.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var code exitError
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "copyguard:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 {
		// A mistake, like an unknown command: the usage goes to stderr, so
		// that it does not pass for output in a pipe.
		usage(stderr, cmds)
		return exitError(2)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		names := make([]string, 0, len(cmds))
		for n := range cmds {
			names = append(names, n)
		}
		sort.Strings(names)
		err := &usageError{msg: fmt.Sprintf("unknown command %q%s", args[0], didYouMean(args[0], names))}
		printUsageError(stderr, err)
		return err
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	if ue := (*usageError)(nil); errors.As(err, &ue) {
		printUsageError(stderr, ue)
	}
	return err
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: copyguard COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'copyguard COMMAND --help' for the flags of a command.")
}
