// Package policy owns the policy language of copyguard. It reads as the
// pipeline it runs:
//
//   - load: source.go reads files, decode.go and fields.go turn YAML nodes
//     into policies, rejecting unknown keys and collecting every Problem
//     with its file:line:col (position.go maps CEL columns into the YAML
//     scalar the expression was written in);
//   - compile: compile.go type-checks each `when` and `match` in its CEL
//     environment (celtypes.go and tags.go are the CEL view of a trigger
//     and a copy);
//   - evaluate: evaluate.go runs one trigger against a CopyIndex,
//     select.go finds the copies each fired policy selects and vetoes;
//   - decide: decide.go turns selections into one Decision per copy
//     (protect > cancel > planned > held), errlog.go caps runtime errors.
//
// How a match is run fast lives below it: policy/internal/query plans
// programs (cost metering, hoisting, index terms) and policy/internal/index
// stores the copies behind CopyIndex. policy/policytest runs policy test
// files.
//
// The package is pure: apart from reading policy files in Load and
// ReadSources it does no I/O. It must not import nats.go, the Alibaba SDK,
// or any other adapter; the worker calls it and acts on the Plan.
package policy
