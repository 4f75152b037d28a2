// Package demo is copyguard demo: the whole loop on this machine, in one
// process. It starts an internal/world, starts image copies through the
// real SDK, runs the worker with the example policies, sends a few
// triggers (and a malformed one) and prints every event and a report of
// what happened to each copy.
//
// It owns the story and the report. Flags and the logger belong to
// cmd/copyguard, which it must not import; the world it runs in belongs
// to internal/world.
package demo
