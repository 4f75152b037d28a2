// Package policy owns the policy language of copyguard: it loads YAML policy
// files, compiles and type-checks their CEL expressions, keeps an indexed
// in-memory inventory of copies (CopyIndex), and evaluates one trigger against
// that inventory into a Plan of per-copy decisions.
//
// The package is pure: apart from reading policy files in Load and
// ReadSources it does no I/O. It must not import nats.go, the Alibaba SDK,
// or any other adapter; the worker calls it and acts on the Plan.
package policy
