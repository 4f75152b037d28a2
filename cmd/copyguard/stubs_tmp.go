package main

import (
	"context"
	"errors"
	"io"
)

// Temporary: each of these is replaced by its own file as the work lands.
var errNotYet = errors.New("not built yet")

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error  { return errNotYet }
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error    { return errNotYet }
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error  { return errNotYet }
func runTrigger(ctx context.Context, args []string, stdout, stderr io.Writer) error { return errNotYet }
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error   { return errNotYet }
func runPause(ctx context.Context, args []string, stdout, stderr io.Writer) error   { return errNotYet }
func runResume(ctx context.Context, args []string, stdout, stderr io.Writer) error  { return errNotYet }
func runECSSim(ctx context.Context, args []string, stdout, stderr io.Writer) error  { return errNotYet }
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error   { return errNotYet }
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error { return errNotYet }
