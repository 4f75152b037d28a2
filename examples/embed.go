// Package examples ships the example policies inside the binary, so that
// copyguard demo runs from anywhere.
package examples

import "embed"

// Policies holds examples/policies/*.yaml (the policies, not their tests).
//
//go:embed policies/*.yaml
var Policies embed.FS
