package app_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/copyguard/copyguard/bus"
	"github.com/copyguard/copyguard/event"
)

// TestUpdateTopologyIsAudited: a worker started with --update-topology on
// an events stream from before copyguard.audit adds the subject and
// records what it changed in an audit event; a worker that changes
// nothing records nothing.
func TestUpdateTopologyIsAudited(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := bus.Setup(ctx, e.js, e.names, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	s, err := e.js.Stream(ctx, e.names.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	old := s.CachedInfo().Config
	old.Subjects = slices.DeleteFunc(slices.Clone(old.Subjects), func(s string) bool { return s == e.names.AuditSubject() })
	if _, err := e.js.UpdateStream(ctx, old); err != nil {
		t.Fatal(err)
	}

	// Without --update-topology the worker refuses, naming the subjects.
	if _, err := e.w.StartApp(ctx, e.config("w0"), zap.NewNop(), nil); err == nil || !strings.Contains(err.Error(), "subjects is") {
		t.Fatalf("start without --update-topology: %v", err)
	}
	c := e.config("w1")
	c.UpdateTopology = true
	e.start(c)
	audits := readAudits(t, e)
	if len(audits) != 1 {
		t.Fatalf("%d audit events, want 1: %+v", len(audits), audits)
	}
	a := audits[0]
	if a.Action != event.AuditUpdateTopology || a.By != "w1" || a.Target != "" ||
		!strings.HasPrefix(a.Reason, "stream COPYGUARD_EVENTS updated: subjects") || time.Since(a.At) > time.Minute {
		t.Errorf("audit event %+v", a)
	}

	// Nothing to change: nothing recorded.
	c.InstanceID = "w2"
	e.start(c)
	if n := len(readAudits(t, e)); n != 1 {
		t.Errorf("%d audit events after a worker that changed nothing, want 1", n)
	}
}

// readAudits returns the audit events on the events stream.
func readAudits(t *testing.T, e *env) []event.Audit {
	t.Helper()
	s, err := e.js.Stream(context.Background(), e.names.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Audit
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil || m.Subject != e.names.AuditSubject() {
			continue
		}
		ev, err := event.Decode(m.Data, 0)
		if err != nil {
			t.Fatal(err)
		}
		a, err := event.DecodeAudit(ev)
		if err != nil {
			t.Fatalf("audit event: %v", err)
		}
		out = append(out, a)
	}
	return out
}
