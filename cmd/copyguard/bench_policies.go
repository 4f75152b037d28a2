package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/internal/benchdata"
)

// batchPolicy lets one trigger select a chosen set of copies: the bench
// tags the copies of a scenario with a batch and fires bench.batch.
const batchPolicy = `policies:
  - name: bench-batch
    on: [bench.batch]
    match: copy.tags["batch"] == trigger.data.batch
    action: cancel
`

// writeBenchPolicies writes the benchmark workload's 20 policies and
// bench-batch to dir, so the bench needs no files of its own.
func writeBenchPolicies(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "workload.yaml"), []byte(benchdata.Policies), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "batch.yaml"), []byte(batchPolicy), 0o644)
}

// inventoryCopy makes the i-th copy of the benchmark inventory over the
// first six simulator regions.
func inventoryCopy(rng *rand.Rand, i int, now time.Time) cloud.Copy {
	return benchdata.Copy(rng, i, benchRegions[:6], now)
}
