package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/worker"
)

// The commands that change the fleet's shared state: pause, resume and
// release. Each records who and why in a copyguard.audit event.

func runPause(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return setPause(ctx, args, true, stdout, stderr)
}

func runResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return setPause(ctx, args, false, stdout, stderr)
}

func setPause(ctx context.Context, args []string, paused bool, stdout, stderr io.Writer) error {
	action := map[bool]event.AuditAction{true: event.AuditPause, false: event.AuditResume}[paused]
	c := newClientCommand("copyguard "+string(action), false, 5*time.Second, stdout)
	var reason *string
	if paused {
		reason = c.fs.String("reason", "", `why (shown in held results and the audit event; default "paused by" whoever ran it)`)
	} else {
		reason = c.fs.String("reason", "", "why the pause is lifted (recorded in the audit event)")
	}
	by := c.fs.String("by", defaultBy(), "who (recorded in the pause switch and the audit event)")
	return c.run(args, nil, func(js jetstream.JetStream) error {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		names := bus.NamesFor(c.prefix)
		kv, err := js.KeyValue(cctx, names.ControlBucket)
		if err != nil {
			return fmt.Errorf("%s: bucket %s: %w (has a copyguard worker started?)", action, names.ControlBucket, err)
		}
		if *reason == "" && paused {
			*reason = "paused by " + *by
		}
		a := event.Audit{Action: action, By: *by, Reason: *reason, At: time.Now().UTC()}
		if err := a.Validate(); err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		audited := auditable(cctx, js, names)
		val, _ := json.Marshal(worker.PauseState{Paused: paused, Reason: a.Reason, By: a.By, At: a.At})
		if _, err := kv.Put(cctx, worker.PauseKey, val); err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		if paused {
			fmt.Fprintf(stdout, "paused: every cancel is now held (%s)\n", a.Reason)
		} else {
			fmt.Fprintln(stdout, "resumed: cancels go ahead again")
		}
		return audit(ctx, js, names, a, audited, c.timeout)
	})
}

func runRelease(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClientCommand("copyguard release REGION/IMAGE_ID", true, 5*time.Second, stdout)
	reason := c.fs.String("reason", "", "why (required; recorded in the audit event)")
	by := c.fs.String("by", defaultBy(), "who (recorded in the audit event)")
	force := c.fs.Bool("force", false, "release a claim that is not failed (decided, calling or done): "+
		"its queued job is dropped, and the copy may be cancelled twice")
	var a event.Audit
	check := func(pos []string) error {
		if len(pos) != 1 {
			return usageErrorf(c.fs, "want one REGION/IMAGE_ID, got %d (usage: copyguard release REGION/IMAGE_ID --reason R)", len(pos))
		}
		if *reason == "" {
			return usageErrorf(c.fs, "--reason is required: say why the claim goes (it is recorded in the audit event)")
		}
		a = event.Audit{Action: event.AuditRelease, By: *by, Reason: *reason, Target: pos[0], At: time.Now().UTC()}
		if err := a.Validate(); err != nil {
			return fmt.Errorf("release %s: %w", pos[0], err)
		}
		return nil
	}
	return c.run(args, check, func(js jetstream.JetStream) error {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		names := bus.NamesFor(c.prefix)
		kv, err := js.KeyValue(cctx, names.ClaimBucket)
		if err != nil {
			return fmt.Errorf("release: bucket %s: %w (has a copyguard worker started?)", names.ClaimBucket, err)
		}
		region, id, _ := strings.Cut(a.Target, "/")
		key := worker.CopyKey(region, id)
		e, err := kv.Get(cctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return fmt.Errorf("release %s: no claim (see copyguard claims)", a.Target)
		}
		if err != nil {
			return fmt.Errorf("release %s: %w", a.Target, err)
		}
		cl, err := worker.ReadClaim(e.Value())
		if err != nil {
			return fmt.Errorf("release %s: %w", a.Target, err)
		}
		if cl.State != worker.ClaimFailed && !*force {
			return fmt.Errorf("release %s: the claim is %s, not failed (trigger %s); releasing it drops its work or lets the copy "+
				"be cancelled twice: add --force if that is what you want", a.Target, cl.State, cl.Trigger.ID)
		}
		audited := auditable(cctx, js, names)
		// At the revision read: a claim that moved meanwhile is not ours
		// to delete.
		if err := kv.Delete(cctx, key, jetstream.LastRevision(e.Revision())); err != nil {
			return fmt.Errorf("release %s: %w (the claim changed meanwhile? look again with copyguard claims)", a.Target, err)
		}
		fmt.Fprintf(stdout, "released %s (was %s, trigger %s): a new trigger may decide it again\n", a.Target, cl.State, cl.Trigger.ID)
		return audit(ctx, js, names, a, audited, c.timeout)
	})
}

// auditable says why audit events cannot be stored on this NATS, or nil:
// an events stream made before copyguard.audit existed does not take
// its subject until a worker runs once with --update-topology. It is
// asked before acting, so that the publish does not wait out --timeout.
func auditable(ctx context.Context, js jetstream.JetStream, names bus.Names) error {
	s, err := js.Stream(ctx, names.EventStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", names.EventStream, err)
	}
	if !slices.Contains(s.CachedInfo().Config.Subjects, names.AuditSubject()) {
		return fmt.Errorf("stream %s does not take %s yet: start one worker with --update-topology once", names.EventStream, names.AuditSubject())
	}
	return nil
}

// audit publishes a, after the action it records was done. A failure
// does not undo the action; the error says it was done, unaudited.
func audit(ctx context.Context, js jetstream.JetStream, names bus.Names, a event.Audit, auditable error, timeout time.Duration) error {
	err := auditable
	if err == nil {
		var body []byte
		body, err = event.Marshal(event.TypeAudit, "copyguard-cli", a.ID(), a.Target, a.At, a)
		if err == nil {
			msg := &nats.Msg{Subject: names.AuditSubject(), Data: body, Header: nats.Header{"Content-Type": []string{"application/cloudevents+json"}}}
			_, err = publishRetrying(ctx, js, msg, a.ID(), timeout)
		}
	}
	if err != nil {
		return fmt.Errorf("%s done, but its audit event was not recorded: %w", a.Action, err)
	}
	return nil
}
