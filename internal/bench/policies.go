package bench

import (
	"math/rand/v2"
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

// policyFiles are the benchmark workload's 20 policies and bench-batch,
// so the bench needs no files of its own.
func policyFiles() map[string]string {
	return map[string]string{"workload.yaml": benchdata.Policies, "batch.yaml": batchPolicy}
}

// inventoryCopy makes the i-th copy of the benchmark inventory over the
// first six simulator regions.
func inventoryCopy(rng *rand.Rand, i int, now time.Time) cloud.Copy {
	return benchdata.Copy(rng, i, regions[:6], now)
}
