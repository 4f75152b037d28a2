// Package worker is copyguard's flow: decode a trigger, evaluate the
// policies against the inventory, claim each selected copy, cancel it
// (rate limit, retry, classify) and report a result.
//
// It owns three parts, each with its own state and lock, on one shared
// base (config, logger, metrics, publishing), as Temporal's Go SDK keeps
// polling, task execution and heartbeating apart:
//
//	decider.go    triggers → decode → evaluate → claims and jobs → decision
//	actor.go      jobs → rate limit → call → retry → result
//	inventory.go  the mirror of the copies bucket and the pause switch;
//	copies.go     its forward-only, compare-and-set writes;
//	reconcile.go  its DescribeImages reconcile; lease.go the per-region
//	              reconcile lease, listing records and readiness;
//	              conditions.go the conditions in force (kept by the
//	              inventory, recorded, released and applied by the decider)
//
// Worker (worker.go) only composes them for the bus. retry.go draws the
// state machine of one copy's cancel; ids.go builds every message id and
// KV key, on which deduplication depends.
//
// It declares the small interfaces it needs (Canceller, Lister, Publisher,
// KV, in ports.go) and must never import nats.go or the cloud SDK: bus and
// cloud/ecs implement them, and tests wire fakes or the real ones.
package worker
