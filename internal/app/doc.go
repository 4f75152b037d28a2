// Package app wires copyguard's worker together: policies, NATS (embedded
// or remote), the JetStream topology, the ECS client, the worker, its
// consumers, the inventory watches and the HTTP endpoints, and stops them
// in order. The run and demo commands and the end-to-end tests share it.
package app
