// Package eventline renders the events copyguard publishes (decisions,
// results, rejections, audit events) as one readable line each, for copyguard watch and
// the demo. It owns only that text; it must not import nats.go or any
// package that does I/O.
package eventline

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/copyguard/copyguard/event"
)

// Format renders a decision, result, rejection or audit event as one readable line,
// as copyguard watch and the demo print it.
func Format(subject string, body []byte) string {
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
	case event.TypeAudit:
		var a event.Audit
		_ = json.Unmarshal(ev.Data, &a)
		line := fmt.Sprintf("%s audit    %-15s by %s", ts, a.Action, a.By)
		if a.Target != "" {
			line += " on " + a.Target
		}
		if a.Reason != "" {
			line += ": " + a.Reason
		}
		return line
	case event.TypeRejected:
		var r event.Rejected
		_ = json.Unmarshal(ev.Data, &r)
		return fmt.Sprintf("%s rejected %s: %s", ts, r.Subject, r.Reason)
	}
	return fmt.Sprintf("%s %s %s", ts, subject, ev.Type)
}

// short shortens a list for a one-line display.
func short(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ",")
	}
	return strings.Join(items[:n], ",") + fmt.Sprintf(",+%d", len(items)-n)
}
