package main

import (
	"context"
	"errors"
	"io"
)

// Temporary: each of these is replaced by its own file as the work lands.
var errNotYet = errors.New("not built yet")

func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error { return errNotYet }
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error  { return errNotYet }
