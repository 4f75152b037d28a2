// Package deploycheck holds tests that keep the files operators read
// true to the code: docs/metrics.md against the metrics a running worker
// registers, and the NATS configuration of the Kubernetes overlay
// against nats-server's own parser. It has no code of its own; the
// Kubernetes manifests and alert rules are checked by the separate module
// in deploy/ (whose dependencies the product does not need).
package deploycheck
