// Package worker is copyguard's flow: decode a trigger, evaluate the
// policies against the inventory, claim each selected copy, cancel it
// (rate limit, retry, classify) and report a result.
//
// It declares the small interfaces it needs (Canceller, Lister, Publisher,
// KV) and never imports nats.go or the cloud SDK: bus and cloud/ecs
// implement them, and tests wire the real ones.
package worker
