package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/event"
)

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copyguard watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print each event as one line of JSON")
	all := fs.Bool("all", false, "start from the oldest stored event, not from now")
	count := fs.Int("count", 0, "stop after this many events (0: follow until interrupted)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	nc, js, err := cf.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	names := bus.NamesFor(cf.prefix)
	deliver := jetstream.DeliverNewPolicy
	if *all {
		deliver = jetstream.DeliverAllPolicy
	}
	// An ordered consumer: no acks, no state left on the server.
	cons, err := js.OrderedConsumer(ctx, names.EventStream, jetstream.OrderedConsumerConfig{DeliverPolicy: deliver})
	if err != nil {
		return fmt.Errorf("watch %s: %w (has a copyguard worker created its streams?)", names.EventStream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)()
	for n := 0; *count == 0 || n < *count; n++ {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return err
		}
		if *asJSON {
			fmt.Fprintf(stdout, "%s\n", strings.TrimSpace(string(m.Data())))
			continue
		}
		fmt.Fprintln(stdout, formatEvent(m.Subject(), m.Data()))
	}
	return nil
}

// formatEvent renders a decision, result or rejection as one readable line.
func formatEvent(subject string, body []byte) string {
	var ev struct {
		Time time.Time       `json:"time"`
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return fmt.Sprintf("%s: unreadable event: %v", subject, err)
	}
	ts := ev.Time.Local().Format("15:04:05.000")
	switch ev.Type {
	case event.TypeDecision:
		var d event.Decision
		_ = json.Unmarshal(ev.Data, &d)
		flags := ""
		if d.Paused {
			flags += " PAUSED"
		}
		if d.DryRun {
			flags += " DRY-RUN"
		}
		return fmt.Sprintf("%s decision %-18s %-22s fired=[%s] cancel=%d held=%d protected=%d planned=%d already=%d errors=%d%s",
			ts, d.Trigger.Type, d.Trigger.ID, short(d.Fired, 3), len(d.Cancel), len(d.Held), len(d.Protected),
			len(d.Planned), len(d.AlreadyDecided), len(d.Errors), flags)
	case event.TypeResult:
		var r event.Result
		_ = json.Unmarshal(ev.Data, &r)
		line := fmt.Sprintf("%s result   %-15s %s/%s by [%s] (trigger %s %s, attempts %d)",
			ts, r.Outcome, r.Region, r.ImageID, short(r.Policies, 3), r.Trigger.Type, r.Trigger.ID, r.Attempts)
		if r.ErrorCode != "" {
			line += " error " + r.ErrorCode
		}
		if r.Reason != "" {
			line += ": " + r.Reason
		}
		return line
	case event.TypeRejected:
		var r event.Rejected
		_ = json.Unmarshal(ev.Data, &r)
		return fmt.Sprintf("%s rejected %s: %s", ts, r.Subject, r.Reason)
	}
	return fmt.Sprintf("%s %s %s", ts, subject, ev.Type)
}
