package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/copyguard/copyguard/internal/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copyguard demo", flag.ContinueOnError)
	fs.SetOutput(stdout)
	verbose := fs.Bool("v", false, "show the worker's logs")
	keep := fs.Bool("keep", false, "keep running after the report, so you can try copyguard trigger / watch against it")
	fs.Usage = func() {
		fmt.Fprint(stdout, "usage: copyguard demo [flags]\n\nshow the whole loop on this machine: an embedded NATS server, the ECS simulator\n"+
			"and the worker with the example policies; triggers, cancels, and a report of every copy.\n\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	o := demo.Options{Keep: *keep}
	if *verbose {
		log, err := newLogger("console", "info", stderr)
		if err != nil {
			return err
		}
		o.Log = log
	}
	return demo.Run(ctx, o, stdout)
}
