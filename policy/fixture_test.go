package policy

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/internal/benchdata"
)

var (
	benchCenters = benchdata.CostCenters()
	benchTeams   = benchdata.Teams()
	benchRegions = []string{"cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "ap-southeast-1", "eu-central-1"}
	benchNow     = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// inventory makes n realistic copies, deterministically from seed.
func inventory(n int, seed uint64) []cloud.Copy {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]cloud.Copy, n)
	for i := range out {
		out[i] = benchdata.Copy(rng, i, benchRegions, benchNow)
	}
	return out
}

// benchPolicies is the shared benchmark workload's 20 policies.
const benchPolicies = benchdata.Policies

func mustParse(tb testing.TB, src string) *Set {
	tb.Helper()
	set, err := Parse("test.yaml", []byte(src))
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	return set
}

func budgetTrigger(center string, percent float64) Trigger {
	return Trigger{ID: "t-1", Type: "budget.exceeded", Source: "test", Data: map[string]any{
		"budget": "b", "percent": percent,
		"scope": map[string]any{"tags": map[string]any{"cost-center": center}},
	}}
}
