// Package bench is copyguard bench: it measures the SPEC §8.1 figures
// (trigger-to-cancel latency, fan-out under throttling, throughput,
// triggers that select nothing, memory, policy evaluation) on this
// machine with real parts, each scenario in a fresh internal/world, and
// prints them as a table or JSON.
//
// It owns the scenarios, the figures and the report. Flags, the logger
// and the exit status belong to cmd/copyguard, which it must not import;
// the world it runs in belongs to internal/world.
package bench
