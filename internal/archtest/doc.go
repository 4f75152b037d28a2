// Package archtest holds no code, only a test that checks the import
// arrows of STYLE.md over the whole module, the way go/build's
// deps_test.go does for the standard library: core packages (event,
// policy, cloud, worker) import no adapter, NATS or the cloud SDK;
// adapters (bus, cloud/ecs) import core; cloud/ecssim and examples import
// only the standard library; internal/* wiring may import all of those;
// cmd/ imports anything and nothing imports cmd/. Its rules table is in
// deps_test.go.
package archtest
