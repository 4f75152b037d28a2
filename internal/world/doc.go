// Package world builds one copyguard installation on this machine, for
// the demo, the bench and the integration tests: an embedded nats-server
// with JetStream on 127.0.0.1, the ECS API simulator (cloud/ecssim) behind
// a loopback listener, the real cloud/ecs client pointed at it, and any
// number of workers (internal/app) wired to both.
//
// It owns the building and the stopping of those parts, and nothing of
// what a caller does with them. It returns errors rather than taking a
// testing.TB, so that commands can use it as well as tests. It must not
// import cmd/, the testing package, or any of the packages built on it
// (internal/bench, internal/demo).
package world
