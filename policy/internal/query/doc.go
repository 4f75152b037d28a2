// Package query owns how a policy's match runs over the copy index, the
// way cel-go's planner sits behind cel: it builds each CEL program (with
// cost metering only where the static estimate needs it), hoists the
// trigger-only subexpressions of a match so that they run once per
// trigger, and finds the conjuncts (Terms) whose values let the
// evaluator look candidates up in the index instead of scanning.
//
// Everything here is an optimisation with a reference to agree with:
// terms only narrow, never decide, and a rewrite that fails to compile is
// simply not used. It must not import the policy package or any adapter;
// it knows the copy index only through policy/internal/index's keys.
package query
