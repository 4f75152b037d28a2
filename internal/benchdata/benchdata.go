// Package benchdata is the workload that copyguard's speed figures are
// measured on: a realistic set of 20 policies and a generator of a
// realistic inventory. The policy package's benchmarks and copyguard bench
// both use it, so their figures describe the same thing.
package benchdata

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// Policies is 20 policies of the kinds operators write: indexed and
// not, several on budget.exceeded, protect policies and a "*" one.
const Policies = `policies:
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
  - name: budget-team
    on: [budget.exceeded]
    match: copy.tags.?team.orValue("") == trigger.data.?team.orValue("-") && copy.progress < 50
    action: cancel
  - name: budget-huge-transfers
    on: [budget.exceeded]
    when: trigger.data.percent >= 110
    match: copy.size_gb * (100 - copy.progress) > 90000
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
  - name: quarantine-list
    on: [quarantine.multi]
    match: copy.region in trigger.data.regions
    action: cancel
  - name: operator-cancel
    on: [cancel.requested]
    match: copy.image_id == trigger.data.image_id && copy.region == trigger.data.region
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
  - name: disabled-experiment
    on: ["*"]
    match: "true"
    action: cancel
    enabled: false
`

// Copy makes the i-th copy of a realistic inventory over regions,
// deterministically from rng: eight cost centres, five teams, three
// environments, 1% protected, 5% release images, started up to three days
// before now.
func Copy(rng *rand.Rand, i int, regions []string, now time.Time) cloud.Copy {
	centers, teams := CostCenters(), Teams()
	tags := map[string]string{
		"cost-center": centers[rng.IntN(len(centers))],
		"team":        teams[rng.IntN(len(teams))],
		"env":         []string{"prod", "staging", "dev"}[rng.IntN(3)],
	}
	if rng.IntN(100) == 0 {
		tags["protect"] = "true"
	}
	name := fmt.Sprintf("app-%d", i)
	if rng.IntN(20) == 0 {
		name = fmt.Sprintf("release-%d", i)
	}
	return cloud.Copy{
		ImageID:       fmt.Sprintf("m-%08x", i),
		Region:        regions[rng.IntN(len(regions))],
		SourceImageID: fmt.Sprintf("m-src%05d", rng.IntN(5000)),
		SourceRegion:  regions[rng.IntN(len(regions))],
		Status:        cloud.StatusCreating,
		Progress:      rng.IntN(100),
		SizeGB:        10 + rng.IntN(990),
		Tags:          tags,
		StartedAt:     now.Add(-time.Duration(rng.IntN(72*60)) * time.Minute).UTC(),
		Name:          name,
	}
}

// CostCenters are the cost-center tag values of the inventory.
func CostCenters() []string {
	return []string{"cc-1", "cc-2", "cc-3", "cc-4", "cc-5", "cc-6", "cc-7", "cc-8"}
}

// Teams are the team tag values of the inventory.
func Teams() []string { return []string{"web", "data", "ml", "infra", "payments"} }
