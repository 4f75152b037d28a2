package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/event"
)

// maxAuditReason keeps an update-topology audit event's reason within
// what event.Audit.Validate accepts.
const maxAuditReason = 1000

// auditTopology records that --update-topology changed the streams,
// consumers or buckets (SPEC §11): who (this instance) and what changed.
func (a *App) auditTopology(ctx context.Context, changed []string) error {
	reason := strings.Join(changed, "; ")
	if len(reason) > maxAuditReason {
		reason = strings.ToValidUTF8(reason[:maxAuditReason-3], "") + "..."
	}
	au := event.Audit{Action: event.AuditUpdateTopology, By: a.cfg.InstanceID, Reason: reason, At: time.Now().UTC()}
	if err := au.Validate(); err != nil {
		return fmt.Errorf("audit update-topology: %w", err)
	}
	body, err := event.Marshal(event.TypeAudit, "copyguard/"+a.cfg.InstanceID, au.ID(), "", au.At, au)
	if err != nil {
		return fmt.Errorf("audit update-topology: %w", err)
	}
	subject := a.Topo.Names.AuditSubject()
	if err := (bus.Publisher{JS: a.js}).Publish(ctx, subject, au.ID(), body); err != nil {
		return fmt.Errorf("audit update-topology: publish %s: %w", subject, err)
	}
	a.log.Info("topology updated; audit event published", zap.Int("changes", len(changed)), zap.String("id", au.ID()))
	return nil
}
