package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/internal/eventline"
)

var demoTeams = []string{"payments", "search", "ml-platform"}

// startCopies creates the demo's copies: most through the real SDK's
// CopyImage against the simulator, a few planted directly in the simulator
// (as if started by another tool) for the worker to discover, some of
// them nearly done.
func (d *demo) startCopies(ctx context.Context) error {
	d.step("Starting image copies from %s into %s", demoSource, strings.Join(demoRegions, ", "))
	for i, app := range []string{"web", "api", "batch"} {
		d.sources = append(d.sources, d.sim.AddImage(ecssim.Image{Region: demoSource, Name: app + "-base", SizeGB: 40 + 20*i,
			Created: time.Now().Add(-48 * time.Hour), Status: "Available"}))
	}
	n := 0
	for i := range 24 {
		team := demoTeams[i%len(demoTeams)]
		region := demoRegions[(i/len(demoTeams))%len(demoRegions)]
		c := demoCopy{region: region, team: team, name: fmt.Sprintf("%s-%s-v%d", team, []string{"web", "api", "batch"}[i%3], 100+i)}
		tags := map[string]string{"cost-center": team, "pipeline": "image-factory"}
		if i == 3 || i == 13 {
			c.golden, tags["protect"] = true, "true"
			c.name = "golden-" + c.name
		}
		id, err := d.client.CopyImage(ctx, ecs.CopyRequest{SourceRegion: demoSource, SourceImageID: d.sources[i%3],
			DestinationRegion: region, Name: c.name, Tags: tags})
		if err != nil {
			return err
		}
		c.id = id
		d.copies = append(d.copies, c)
		n++
	}
	// Started by hand, long ago: far along, and not announced.
	for i, pct := range []int{95, 40, 70} {
		team, region := demoTeams[i], demoRegions[(i+1)%len(demoRegions)]
		copyTime := 20 * time.Minute
		created := time.Now().Add(-time.Duration(pct) * copyTime / 100)
		name := fmt.Sprintf("%s-manual-v%d", team, i+1)
		id := d.sim.AddImage(ecssim.Image{Region: region, Name: name, IsCopied: true, SourceImageID: d.sources[0], SourceRegion: demoSource,
			SizeGB: 40, Tags: map[string]string{"cost-center": team}, Created: created, CopyTime: copyTime})
		d.copies = append(d.copies, demoCopy{region: region, id: id, team: team, name: name, discovered: true})
	}
	// A small copy that finishes a few seconds into the demo.
	fast := d.sim.AddImage(ecssim.Image{Region: "us-west-1", Name: "search-hotfix-v7", IsCopied: true, SourceImageID: d.sources[1],
		SourceRegion: demoSource, SizeGB: 1, Tags: map[string]string{"cost-center": "search"}, Created: time.Now(), CopyTime: 3 * time.Second})
	d.copies = append(d.copies, demoCopy{region: "us-west-1", id: fast, team: "search", name: "search-hotfix-v7"})
	fmt.Fprintf(d.out, "    %d copies started with CopyImage, %d more found in flight\n", n+1, countDiscovered(d.copies))
	return nil
}

// announce publishes copy.started for each copy the pipeline started.
func (d *demo) announce(ctx context.Context) error {
	for _, c := range d.copies {
		if c.discovered {
			continue
		}
		if err := d.announceOne(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) announceOne(ctx context.Context, c demoCopy) error {
	img, _ := d.sim.Image(c.region, c.id)
	data := map[string]any{"image_id": c.id, "region": c.region, "source_image_id": img.SourceImageID, "source_region": demoSource,
		"name": c.name, "size_gb": img.SizeGB, "tags": img.Tags, "started_at": time.Now().UTC().Format(time.RFC3339)}
	return d.publish(ctx, d.names.CopySubject("started"), "copy.started", "started-"+c.id, data)
}

func (d *demo) publish(ctx context.Context, subject, typ, id string, data map[string]any) error {
	return d.world.Publish(ctx, subject, typ, "copyguard-demo", id, data)
}

// follow prints decisions, results and rejections as they are published.
func (d *demo) follow(ctx context.Context) error {
	cons, err := d.js.OrderedConsumer(ctx, d.names.EventStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	_, err = cons.Consume(func(m jetstream.Msg) {
		ev, err := event.Decode(m.Data(), 1<<20)
		if err != nil {
			return
		}
		line := eventline.Format(m.Subject(), m.Data())
		d.mu.Lock()
		defer d.mu.Unlock()
		switch ev.Type {
		case event.TypeResult:
			var r event.Result
			if json.Unmarshal(ev.Data, &r) == nil {
				d.results[r.Region+"/"+r.ImageID] = r
			}
		case event.TypeDecision:
			var dec event.Decision
			if json.Unmarshal(ev.Data, &dec) == nil {
				d.decisions[dec.Trigger.ID] = append(d.decisions[dec.Trigger.ID], dec)
			}
		case event.TypeRejected:
			var r event.Rejected
			if json.Unmarshal(ev.Data, &r) == nil {
				d.rejected = append(d.rejected, r)
			}
		}
		fmt.Fprintf(d.out, "    %s\n", line)
	})
	return err
}

// settled reports whether the trigger was decided and every copy its
// decisions named has a result.
func (d *demo) settled(triggerID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	decs, ok := d.decisions[triggerID]
	if !ok {
		return false
	}
	for _, dec := range decs {
		for _, list := range [][]event.DecidedCopy{dec.Cancel, dec.Held, dec.Protected, dec.Planned} {
			for _, c := range list {
				if _, ok := d.results[c.Region+"/"+c.ImageID]; !ok {
					return false
				}
			}
		}
	}
	return true
}

func (d *demo) trigger(ctx context.Context, typ, id, about string, data map[string]any) error {
	d.step("Trigger %s (%s)", typ, about)
	if err := d.publish(ctx, d.names.TriggerSubject(typ), typ, id, data); err != nil {
		return err
	}
	return d.waitUntil(ctx, "the results of "+id, func() bool { return d.settled(id) })
}

func (d *demo) fire(ctx context.Context) error {
	d.step("A malformed event on %s", d.names.TriggerSubject("budget.exceeded"))
	bad := []byte(`{"specversion":"1.0","id":"oops-1","source":"finance-bot","type":"budget.exceeded","data":{"budget":"q4","percent":"a lot"}}`)
	if _, err := d.js.Publish(ctx, d.names.TriggerSubject("budget.exceeded"), bad, jetstream.WithMsgID("oops-1")); err != nil {
		return err
	}
	if err := d.waitUntil(ctx, "the rejection", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.rejected) > 0 }); err != nil {
		return err
	}
	if err := d.trigger(ctx, "budget.exceeded", "budget-payments-2026-11", "cost center payments at 112% of its budget", map[string]any{
		"budget": "payments-monthly", "limit": 5000, "actual": 5600, "currency": "USD", "percent": 112.0,
		"scope": map[string]any{"tags": map[string]any{"cost-center": "payments"}},
	}); err != nil {
		return err
	}
	if err := d.trigger(ctx, "budget.exceeded", "budget-search-2026-11", "cost center search at 95% of its budget: a warning", map[string]any{
		"budget": "search-monthly", "limit": 8000, "actual": 7600, "currency": "USD", "percent": 95.0,
		"scope": map[string]any{"tags": map[string]any{"cost-center": "search"}},
	}); err != nil {
		return err
	}
	if err := d.trigger(ctx, "region.quarantined", "quarantine-ap-southeast-1", "incident INC-4711 in ap-southeast-1", map[string]any{
		"region": "ap-southeast-1", "reason": "suspected data exfiltration", "incident": "INC-4711",
	}); err != nil {
		return err
	}
	d.step("A new copy into the quarantined region starts while the quarantine holds")
	id, err := d.client.CopyImage(ctx, ecs.CopyRequest{SourceRegion: demoSource, SourceImageID: d.sources[0], DestinationRegion: "ap-southeast-1",
		Name: "search-web-late", Tags: map[string]string{"cost-center": "search"}})
	if err != nil {
		return err
	}
	late := demoCopy{region: "ap-southeast-1", id: id, team: "search", name: "search-web-late"}
	d.copies = append(d.copies, late)
	if err := d.announceOne(ctx, late); err != nil {
		return err
	}
	if err := d.waitUntil(ctx, "the late copy's result", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, ok := d.results[late.region+"/"+late.id]
		return ok
	}); err != nil {
		return err
	}
	fast := d.copies[len(d.copies)-2]
	if err := d.waitUntil(ctx, "the hotfix copy to finish", func() bool {
		img, ok := d.sim.Image(fast.region, fast.id)
		return ok && img.Status == "Available"
	}); err != nil {
		return err
	}
	if err := d.trigger(ctx, "cancel.requested", "operator-cancel-1", "an operator cancels "+fast.id+", which has just finished", map[string]any{
		"image_id": fast.id, "region": fast.region, "reason": "wrong build", "requested_by": "alice",
	}); err != nil {
		return err
	}
	target := d.copies[1]
	return d.trigger(ctx, "cancel.requested", "operator-cancel-2", "an operator cancels "+target.id, map[string]any{
		"image_id": target.id, "region": target.region, "reason": "superseded build", "requested_by": "bob",
	})
}

// report prints every copy with its decision and outcome.
func (d *demo) report() {
	d.step("Report")
	d.mu.Lock()
	defer d.mu.Unlock()
	sort.SliceStable(d.copies, func(i, j int) bool {
		if d.copies[i].region != d.copies[j].region {
			return d.copies[i].region < d.copies[j].region
		}
		return d.copies[i].name < d.copies[j].name
	})
	tw := tabwriter.NewWriter(d.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tIMAGE\tNAME\tTEAM\tTRIGGER\tPOLICY\tOUTCOME\tCALLS\tWHY")
	counts := map[string]int{}
	calls := 0
	for _, c := range d.copies {
		n := d.sim.Calls("CancelCopyImage", c.id)
		calls += n
		r, ok := d.results[c.region+"/"+c.id]
		if !ok {
			counts["untouched"]++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\tuntouched\t%d\tno policy selected it\n", c.region, c.id, c.name, c.team, n)
			continue
		}
		counts[r.Outcome]++
		why := r.Reason
		if r.ErrorCode != "" {
			why += " (" + r.ErrorCode + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.region, c.id, c.name, c.team, r.Trigger.Type, strings.Join(r.Policies, ","), r.Outcome, n, why)
	}
	tw.Flush()
	var parts []string
	for _, k := range []string{"cancelled", "completed", "already_gone", "not_cancellable", "protected", "held", "planned", "failed", "untouched"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	fmt.Fprintf(d.out, "\n%d copies: %s.\n", len(d.copies), strings.Join(parts, ", "))
	fmt.Fprintf(d.out, "CancelCopyImage calls: %d, one per decided copy at most; rejected inputs: %d", calls, len(d.rejected))
	if len(d.rejected) > 0 {
		fmt.Fprintf(d.out, " (%s)", d.rejected[0].Reason)
	}
	fmt.Fprintf(d.out, ".\nDone in %s.\n", time.Since(d.started).Round(100*time.Millisecond))
}
