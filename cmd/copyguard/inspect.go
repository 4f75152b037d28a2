package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
	"github.com/copyguard/copyguard/worker"
)

// The inspection commands: copies, conditions, claims and plan read the
// shared buckets and write nothing. Without --json they print aligned
// tables for people; with --json one JSON object per line.

// readBucket returns every live entry of a bucket, in key order.
func readBucket(ctx context.Context, js jetstream.JetStream, bucket string) ([]jetstream.KeyValueEntry, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w (has a copyguard worker started?)", bucket, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read bucket %s: %w", bucket, err)
	}
	defer func() { _ = w.Stop() }()
	var out []jetstream.KeyValueEntry
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // every value present at the start has been sent
				slices.SortFunc(out, func(a, b jetstream.KeyValueEntry) int { return strings.Compare(a.Key(), b.Key()) })
				return out, nil
			}
			out = append(out, e)
		case <-ctx.Done():
			return nil, fmt.Errorf("read bucket %s: %w", bucket, ctx.Err())
		}
	}
}

// printer writes rows as a table or as JSON lines.
type printer struct {
	json bool
	tw   *tabwriter.Writer
	out  io.Writer
}

func newPrinter(out io.Writer, asJSON bool, header ...string) *printer {
	p := &printer{json: asJSON, out: out}
	if !asJSON {
		p.tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(p.tw, strings.Join(header, "\t"))
	}
	return p
}

// row prints v as JSON, or cells as a table row.
func (p *printer) row(v any, cells ...string) error {
	if p.json {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.out, "%s\n", b)
		return err
	}
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	_, err := fmt.Fprintln(p.tw, strings.Join(cells, "\t"))
	return err
}

func (p *printer) flush() error {
	if p.tw != nil {
		return p.tw.Flush()
	}
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func tagList(tags map[string]string) string {
	parts := make([]string, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ",")
}

// copyLine is one line of copies --json (SPEC §11).
type copyLine struct {
	ImageID    string            `json:"image_id"`
	Region     string            `json:"region"`
	Status     string            `json:"status"`
	Progress   int               `json:"progress"`
	Tags       map[string]string `json:"tags"`
	ObservedAt time.Time         `json:"observed_at"`
	Claim      string            `json:"claim,omitempty"`
}

func runCopies(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClientCommand("copyguard copies", false, 5*time.Second, stdout)
	region := c.fs.String("region", "", "only the copies in this region")
	asJSON := c.fs.Bool("json", false, "one JSON object per line")
	return c.run(args, nil, func(js jetstream.JetStream) error {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		names := bus.NamesFor(c.prefix)
		copies, err := readBucket(cctx, js, names.InventoryBucket)
		if err != nil {
			return err
		}
		claims, err := claimStates(cctx, js, names)
		if err != nil {
			return err
		}
		p := newPrinter(stdout, *asJSON, "REGION", "IMAGE", "STATUS", "PROGRESS", "TAGS", "OBSERVED", "CLAIM")
		for _, e := range copies {
			ce, err := worker.ReadCopy(e.Value())
			if err != nil {
				fmt.Fprintf(stderr, "copyguard: %s: %v\n", e.Key(), err)
				continue
			}
			if *region != "" && ce.Region != *region {
				continue
			}
			l := copyLine{ImageID: ce.ImageID, Region: ce.Region, Status: ce.Status, Progress: ce.Progress, Tags: ce.Tags,
				ObservedAt: e.Created().UTC(), Claim: claims[e.Key()]}
			if l.Tags == nil {
				l.Tags = map[string]string{}
			}
			if err := p.row(l, l.Region, l.ImageID, l.Status, fmt.Sprintf("%d%%", l.Progress), tagList(l.Tags), stamp(l.ObservedAt), l.Claim); err != nil {
				return err
			}
		}
		return p.flush()
	})
}

// claimStates maps copy keys to their claim's state.
func claimStates(ctx context.Context, js jetstream.JetStream, names bus.Names) (map[string]string, error) {
	entries, err := readBucket(ctx, js, names.ClaimBucket)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		if !worker.IsCopyKey(e.Key()) {
			continue
		}
		if cl, err := worker.ReadClaim(e.Value()); err == nil {
			out[e.Key()] = cl.State
		}
	}
	return out, nil
}

// conditionLine is one line of conditions --json (SPEC §11).
type conditionLine struct {
	Policy      string    `json:"policy"`
	TriggerID   string    `json:"trigger_id"`
	TriggerType string    `json:"trigger_type"`
	Region      string    `json:"region,omitempty"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func runConditions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClientCommand("copyguard conditions", false, 5*time.Second, stdout)
	asJSON := c.fs.Bool("json", false, "one JSON object per line")
	return c.run(args, nil, func(js jetstream.JetStream) error {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		entries, err := readBucket(cctx, js, bus.NamesFor(c.prefix).ConditionBucket)
		if err != nil {
			return err
		}
		var lines []conditionLine
		now := time.Now()
		for _, e := range entries {
			ci, err := worker.ReadCondition(e.Value())
			if err != nil {
				fmt.Fprintf(stderr, "copyguard: condition %s: %v\n", e.Key(), err)
				continue
			}
			if !now.Before(ci.Expires) {
				continue // expired; the bucket's TTL removes it soon
			}
			lines = append(lines, conditionLine{Policy: ci.Policy, TriggerID: ci.Trigger.ID, TriggerType: ci.Trigger.Type,
				Region: ci.Region, ExpiresAt: ci.Expires.UTC()})
		}
		slices.SortFunc(lines, func(a, b conditionLine) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
		p := newPrinter(stdout, *asJSON, "POLICY", "TRIGGER", "TYPE", "REGION", "EXPIRES")
		for _, l := range lines {
			if err := p.row(l, l.Policy, l.TriggerID, l.TriggerType, l.Region, stamp(l.ExpiresAt)); err != nil {
				return err
			}
		}
		return p.flush()
	})
}

// claimLine is one line of claims --json.
type claimLine struct {
	ImageID      string    `json:"image_id"`
	Region       string    `json:"region"`
	State        string    `json:"state"`
	Outcome      string    `json:"outcome,omitempty"`
	TriggerID    string    `json:"trigger_id"`
	TriggerType  string    `json:"trigger_type"`
	Policies     []string  `json:"policies"`
	Attempts     int       `json:"attempts"`
	Owner        string    `json:"owner"`
	DecidedAt    time.Time `json:"decided_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	ErrorCode    string    `json:"error_code,omitempty"`
	ErrorMessage string    `json:"error_message,omitempty"`
}

func runClaims(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClientCommand("copyguard claims", false, 5*time.Second, stdout)
	states := worker.ClaimStates()
	state := c.fs.String("state", "", "only the claims in this state: "+strings.Join(states, ", "))
	asJSON := c.fs.Bool("json", false, "one JSON object per line")
	check := func([]string) error {
		if *state != "" && !slices.Contains(states, *state) {
			return fmt.Errorf("--state %q: want one of %s%s", *state, strings.Join(states, ", "), didYouMean(*state, states))
		}
		return nil
	}
	return c.run(args, check, func(js jetstream.JetStream) error {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		entries, err := readBucket(cctx, js, bus.NamesFor(c.prefix).ClaimBucket)
		if err != nil {
			return err
		}
		p := newPrinter(stdout, *asJSON, "REGION", "IMAGE", "STATE", "OUTCOME", "TRIGGER", "TYPE", "POLICIES", "ATTEMPTS", "OWNER", "UPDATED", "ERROR")
		for _, e := range entries {
			if !worker.IsCopyKey(e.Key()) {
				continue // a trigger id's record, not a claim
			}
			cl, err := worker.ReadClaim(e.Value())
			if err != nil {
				fmt.Fprintf(stderr, "copyguard: claim %s: %v\n", e.Key(), err)
				continue
			}
			if *state != "" && cl.State != *state {
				continue
			}
			l := claimLine{ImageID: cl.ImageID, Region: cl.Region, State: cl.State, TriggerID: cl.Trigger.ID, TriggerType: cl.Trigger.Type,
				Policies: cl.Policies, Attempts: cl.Attempts, Owner: cl.Owner, DecidedAt: cl.DecidedAt.UTC(), UpdatedAt: cl.UpdatedAt.UTC()}
			if l.Policies == nil {
				l.Policies = []string{}
			}
			if r := cl.Result; r != nil {
				l.Outcome, l.ErrorCode, l.ErrorMessage = r.Outcome, r.ErrorCode, r.ErrorMessage
			}
			errText := strings.TrimPrefix(strings.TrimSpace(l.ErrorCode+": "+l.ErrorMessage), ":")
			if err := p.row(l, l.Region, l.ImageID, l.State, l.Outcome, l.TriggerID, l.TriggerType, strings.Join(l.Policies, ","),
				fmt.Sprint(l.Attempts), l.Owner, stamp(l.UpdatedAt), strings.TrimSpace(errText)); err != nil {
				return err
			}
		}
		return p.flush()
	})
}

// planLine is one line of plan --json (SPEC §11).
type planLine struct {
	ImageID  string   `json:"image_id"`
	Region   string   `json:"region"`
	Action   string   `json:"action"`
	Policies []string `json:"policies"`
	Reason   string   `json:"reason"`
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClientCommand("copyguard plan TYPE", true, 5*time.Second, stdout)
	tf := triggerFlags(c.fs)
	var paths []string
	c.fs.Func("policy", "policy file or directory, as the workers load them (repeatable; required)", func(v string) error {
		paths = append(paths, v)
		return nil
	})
	dryRun := c.fs.Bool("dry-run", false, "plan as a fleet running with --dry-run would")
	asJSON := c.fs.Bool("json", false, "one JSON object per line")
	var trig policy.Trigger
	var set *policy.Set
	check := func(pos []string) error {
		if len(pos) != 1 {
			return usageErrorf(c.fs, "want one TYPE, got %d (usage: copyguard plan TYPE --data JSON --policy PATH)", len(pos))
		}
		if len(paths) == 0 {
			return usageErrorf(c.fs, "--policy is required: the policies the workers run")
		}
		if *tf.id == "" {
			*tf.id = fmt.Sprintf("plan-%d-%d", time.Now().UnixNano(), os.Getpid())
		}
		ev, err := tf.build(pos[0])
		if err != nil {
			return err
		}
		data, _, _ := event.DecodeTrigger(ev) // build has checked it
		trig = policy.Trigger{ID: ev.ID, Type: ev.Type, Source: ev.Source, Subject: ev.Subject, Time: ev.Time, Data: data}
		if set, err = policy.Load(paths...); err != nil {
			return fmt.Errorf("--policy:\n%w", err)
		}
		return nil
	}
	return c.run(args, check, func(js jetstream.JetStream) error {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		names := bus.NamesFor(c.prefix)
		entries, err := readBucket(cctx, js, names.InventoryBucket)
		if err != nil {
			return err
		}
		index := policy.NewCopyIndex()
		regions := map[string]int{}
		for _, e := range entries {
			if ce, err := worker.ReadCopy(e.Value()); err == nil {
				index.Put(ce.Copy)
				regions[ce.Region]++
			}
		}
		claims, err := js.KeyValue(cctx, names.ClaimBucket)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", names.ClaimBucket, err)
		}
		cfg := worker.PreviewConfig{Claims: bus.KV{B: claims}, DryRun: *dryRun}
		if cfg.Pause, err = readPause(cctx, js, names); err != nil {
			return err
		}
		plan, previews, err := worker.Preview(cctx, set, trig, index, cfg, time.Now().UTC())
		if err != nil {
			return err
		}
		p := newPrinter(stdout, *asJSON, "REGION", "IMAGE", "ACTION", "POLICIES", "REASON")
		counts := map[string]int{}
		for _, pv := range previews {
			l := planLine{ImageID: pv.Copy.ImageID, Region: pv.Copy.Region, Action: pv.Action, Policies: pv.Policies, Reason: pv.Reason}
			if l.Policies == nil {
				l.Policies = []string{}
			}
			counts[l.Action]++
			if err := p.row(l, l.Region, l.ImageID, l.Action, strings.Join(l.Policies, ","), l.Reason); err != nil {
				return err
			}
		}
		if err := p.flush(); err != nil {
			return err
		}
		for _, e := range plan.Errors {
			fmt.Fprintf(stderr, "copyguard: policy %q %s: %s/%s: %s\n", e.Policy, e.Field, e.Region, e.ImageID, e.Message)
		}
		if !*asJSON {
			fmt.Fprintln(stdout, planSummary(plan, previews, counts, regions))
		}
		return nil
	})
}

// planSummary says in one line what the plan comes to, and where it
// selected nothing, what it looked at.
func planSummary(plan *policy.Plan, previews []worker.Previewed, counts map[string]int, regions map[string]int) string {
	inv := 0
	for _, n := range regions {
		inv += n
	}
	where := fmt.Sprintf("%d copies in the inventory", inv)
	if inv > 0 {
		where += " (" + strings.Join(slices.Sorted(maps.Keys(regions)), ", ") + ")"
	}
	fired := "no policy fired"
	if len(plan.Fired) > 0 {
		fired = "fired: " + strings.Join(plan.Fired, ", ")
	}
	if len(previews) == 0 {
		return fmt.Sprintf("nothing selected; %s; %s. Nothing was done.", where, fired)
	}
	var parts []string
	for _, a := range []string{"cancel", "protect", "held", "planned", worker.ActionAlreadyDecided} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	return fmt.Sprintf("%d selected: %s; %s; %s. Nothing was done.", len(previews), strings.Join(parts, ", "), where, fired)
}

// readPause reads the pause switch as the workers do: absent is not
// paused, and an unreadable value counts as paused.
func readPause(ctx context.Context, js jetstream.JetStream, names bus.Names) (*worker.PauseState, error) {
	kv, err := js.KeyValue(ctx, names.ControlBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", names.ControlBucket, err)
	}
	e, err := kv.Get(ctx, worker.PauseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pause switch: %w", err)
	}
	var p worker.PauseState
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		p = worker.PauseState{Paused: true, Reason: "unreadable pause switch"}
	}
	return &p, nil
}
