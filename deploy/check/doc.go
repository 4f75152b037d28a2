// Package check holds offline tests of what deploy/ ships: the kustomize
// base and overlays rendered with kustomize's own Go API and strictly
// decoded into the Kubernetes API types, the security settings of every
// workload, and the Prometheus rules and Grafana dashboard parsed with
// Prometheus' own parsers and checked against docs/metrics.md.
//
// It is a module of its own (deploy/go.mod) so that the product's module
// needs none of these dependencies; the product imports nothing from it.
package check
