package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// benchPolicies are the 20 policies every scenario runs with: the kinds
// operators write (tag-indexed and full-scan matches, several on one
// trigger type, protect policies on "*", a disabled one), plus
// bench-batch, which lets one trigger select a chosen set of copies.
const benchPolicies = `policies:
  - name: budget-cost-center
    on: [budget.exceeded]
    when: trigger.data.percent >= 100
    match: copy.tags["cost-center"] == trigger.data.scope.tags["cost-center"] && copy.progress < 90
    action: cancel
    max_cancels: 20000
  - name: budget-resource-group
    on: [budget.exceeded]
    when: has(trigger.data.scope.resource_group_id)
    match: copy.resource_group_id == trigger.data.scope.resource_group_id
    action: cancel
  - name: budget-big-copies
    on: [budget.exceeded]
    match: copy.size_gb > 500 && copy.tags["cost-center"] == trigger.data.scope.tags["cost-center"]
    action: cancel
    dry_run: true
  - name: budget-critical
    on: [budget.exceeded]
    when: trigger.data.percent >= 150
    match: copy.progress < 20
    action: cancel
  - name: quarantine-destination
    on: [region.quarantined]
    match: copy.region == trigger.data.region
    action: cancel
    active_for: 6h
    released_by: region.released
  - name: quarantine-source
    on: [region.quarantined]
    match: copy.source_region == trigger.data.region && copy.progress < 95
    action: cancel
  - name: operator-cancel
    on: [cancel.requested]
    match: copy.image_id == trigger.data.image_id && copy.region == trigger.data.region
    action: cancel
  - name: bench-batch
    on: [bench.batch]
    match: copy.tags["batch"] == trigger.data.batch
    action: cancel
  - name: stale-copies
    on: [copy.sweep]
    match: now - copy.started_at > duration("48h") && copy.progress < 50
    action: cancel
  - name: staging-nightly
    on: [schedule.nightly]
    match: copy.tags["env"] == "staging" && copy.region in ["cn-hangzhou", "cn-shanghai"]
    action: cancel
  - name: team-freeze
    on: [team.frozen]
    match: copy.tags["team"] == trigger.data.team
    action: cancel
    max_cancels: 100
  - name: source-image-withdrawn
    on: [image.withdrawn]
    match: copy.source_image_id == trigger.data.image_id
    action: cancel
  - name: big-copy-sweep
    on: [copy.sweep]
    match: copy.size_gb > 900
    action: cancel
    dry_run: true
  - name: golden-images
    on: ["*"]
    match: copy.tags["protect"] == "true"
    action: protect
  - name: release-images
    on: ["*"]
    match: copy.name.startsWith("release-")
    action: protect
  - name: nearly-done
    on: [budget.exceeded, copy.sweep]
    match: copy.progress >= 95
    action: protect
  - name: prod-in-quarantine-kept
    on: [region.quarantined]
    when: trigger.data.?severity.orValue("") == "low"
    match: copy.tags["env"] == "prod"
    action: protect
  - name: payments-team
    on: [budget.exceeded]
    match: copy.tags["team"] == "payments" && copy.tags["env"] == "prod"
    action: protect
  - name: release-train-freeze
    on: [release.frozen]
    match: copy.name.startsWith(trigger.data.prefix)
    action: cancel
    max_cancels: 500
  - name: disabled-experiment
    on: ["*"]
    match: "true"
    action: cancel
    enabled: false
`

// writeBenchPolicies writes the policies to dir, so the bench needs no
// files of its own.
func writeBenchPolicies(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bench.yaml"), []byte(benchPolicies), 0o644)
}

var (
	inventoryCenters = []string{"cc-1", "cc-2", "cc-3", "cc-4", "cc-5", "cc-6", "cc-7", "cc-8"}
	inventoryTeams   = []string{"web", "data", "ml", "infra", "payments"}
	inventoryEnvs    = []string{"prod", "staging", "dev"}
)

// inventoryCopy makes the i-th copy of a realistic inventory over the
// first six simulator regions, deterministically from rng: eight cost
// centres, five teams, 1% protected, 5% release images.
func inventoryCopy(rng *rand.Rand, i int, now time.Time) cloud.Copy {
	regions := benchRegions[:6]
	tags := map[string]string{
		"cost-center": inventoryCenters[rng.IntN(len(inventoryCenters))],
		"team":        inventoryTeams[rng.IntN(len(inventoryTeams))],
		"env":         inventoryEnvs[rng.IntN(len(inventoryEnvs))],
	}
	if rng.IntN(100) == 0 {
		tags["protect"] = "true"
	}
	name := fmt.Sprintf("app-%d", i)
	if rng.IntN(20) == 0 {
		name = fmt.Sprintf("release-%d", i)
	}
	return cloud.Copy{
		ImageID:       fmt.Sprintf("m-inv%08x", i),
		Region:        regions[rng.IntN(len(regions))],
		SourceImageID: fmt.Sprintf("m-src%05d", rng.IntN(5000)),
		SourceRegion:  regions[rng.IntN(len(regions))],
		Status:        cloud.StatusCreating,
		Progress:      rng.IntN(100),
		SizeGB:        10 + rng.IntN(990),
		Tags:          tags,
		StartedAt:     now.Add(-time.Duration(rng.IntN(72*60)) * time.Minute).UTC().Truncate(time.Second),
		Name:          name,
	}
}
