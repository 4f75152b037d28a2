// Package bus is copyguard's JetStream adapter: it connects to NATS (or
// starts an embedded server), creates and checks the streams, consumers and
// KV buckets, feeds messages to the worker and settles them (ack, nak with
// delay, term) as the worker says, and publishes events with a
// deterministic Nats-Msg-Id.
//
// It imports nats.go and nats-server; the worker package must not.
package bus
