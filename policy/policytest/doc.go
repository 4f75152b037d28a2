// Package policytest runs policy test files: YAML files (named
// *_test.yaml or *_test.yml) that load policies, describe a trigger and an
// inventory of copies, and state the decision expected for each copy, in
// the spirit of `go test` and `opa test`. The `copyguard policy test`
// command is a thin wrapper around Run.
//
// It reads files and nothing else; it must not import nats.go, the SDK or
// the worker.
package policytest
