package worker

import (
	"strings"
	"testing"

	"github.com/copyguard/copyguard/event"
)

// The tests of base.go: rejections of bad input, and what a panic in a
// handler turns into.

func TestHandleTriggerRejects(t *testing.T) {
	valid := budgetTrigger(t, "t-ok", "ml")
	tests := []struct {
		name    string
		msg     Msg
		field   string
		contain string // in the reason
	}{
		{
			name:    "malformed JSON",
			msg:     Msg{Subject: "copyguard.trigger.budget.exceeded", Data: []byte(`{"specversion":"1.0",`)},
			contain: "JSON",
		},
		{
			name:    "type does not match the subject",
			msg:     Msg{Subject: "copyguard.trigger.region.quarantined", Data: valid.Data},
			field:   "type",
			contain: "region.quarantined",
		},
		{
			name:    "not an input subject",
			msg:     Msg{Subject: "copyguard.elsewhere", Data: valid.Data},
			contain: "not an input subject",
		},
		{
			name: "missing required data",
			msg: triggerMsg(t, event.TypeBudgetExceeded, "t-bad", map[string]any{
				"budget": "team", "scope": map[string]any{"tags": map[string]any{"cost-center": "ml"}},
			}),
			field: "data.percent",
		},
		{
			name:  "bad region",
			msg:   triggerMsg(t, event.TypeRegionQuarantined, "t-bad", map[string]any{"region": "Hangzhou!", "reason": "x"}),
			field: "data.region",
		},
		{
			name:  "inventory type on a trigger subject",
			msg:   Msg{Subject: "copyguard.trigger.copy.started", Data: copyStartedMsg(t, "e-1", inflight("cn-hangzhou", "m-aaaa0001", nil)).Data},
			field: "type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.w.Inventory().Put(inflight("cn-hangzhou", "m-aaaa0001", map[string]string{"cost-center": "ml"}))
			tt.msg.Delivered = 1

			v := r.w.HandleTrigger(testCtx, tt.msg)

			if v.Kind != Ack {
				t.Errorf("verdict = %v (%s), want ack: bad input is not retried", v.Kind, v.Reason)
			}
			all := r.pub.all()
			if len(all) != 1 || all[0].Subject != "copyguard.rejected" {
				t.Fatalf("published %+v, want exactly one rejection", all)
			}
			if !strings.HasPrefix(all[0].MsgID, "rejected:") {
				t.Errorf("msg id = %q", all[0].MsgID)
			}
			var rej event.Rejected
			decodeEvent(t, all[0], &rej)
			if err := rej.Validate(); err != nil {
				t.Errorf("rejection does not validate: %v", err)
			}
			if rej.Field != tt.field {
				t.Errorf("field = %q, want %q (reason %q)", rej.Field, tt.field, rej.Reason)
			}
			if rej.Reason == "" || !strings.Contains(rej.Reason, tt.contain) {
				t.Errorf("reason = %q, want it to mention %q", rej.Reason, tt.contain)
			}
			if rej.Subject != tt.msg.Subject || rej.Original != string(tt.msg.Data) || rej.Instance != "test-1" {
				t.Errorf("rejection = %+v", rej)
			}
			if keys := r.claims.keys(); len(keys) != 0 {
				t.Errorf("claims %v made for a rejected trigger", keys)
			}

			// The same input is rejected under the same id, so a redelivery
			// is deduplicated.
			r.w.HandleTrigger(testCtx, tt.msg)
			if again := r.pub.all(); len(again) != 2 || again[1].MsgID != all[0].MsgID {
				t.Errorf("second rejection id %v, want %q", again, all[0].MsgID)
			}
		})
	}
}

func TestHandleTriggerRejectsLongBody(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"cut on a character boundary", strings.Repeat("é", 3<<10)},
		{"cut inside a character", "a" + strings.Repeat("é", 3<<10)},
		{"invalid UTF-8", strings.Repeat("\xff", 6<<10)},
		{"short invalid UTF-8", "{\xff\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			v := r.w.HandleTrigger(testCtx, Msg{Subject: "copyguard.trigger.budget.exceeded", Data: []byte(tt.body), Delivered: 1})
			if v.Kind != Ack {
				t.Fatalf("verdict = %v", v.Kind)
			}
			var rej event.Rejected
			decodeEvent(t, r.pub.all()[0], &rej)
			if rej.Truncated != (len(tt.body) > event.MaxOriginal) {
				t.Errorf("truncated = %v for a %d-byte body", rej.Truncated, len(tt.body))
			}
			if err := rej.Validate(); err != nil {
				t.Errorf("rejection does not validate: %v", err)
			}
		})
	}
}

// TestHandleTriggerRejectsOddSubjects: NATS subjects that no CloudEvent
// may carry (too long, control characters, invalid UTF-8) are still
// rejected and acked, not handed back for ever.
func TestHandleTriggerRejectsOddSubjects(t *testing.T) {
	for _, subject := range []string{
		"copyguard.trigger." + strings.Repeat("x", 600),
		"copyguard.trigger.budget\x01exceeded",
		"copyguard.trigger.budget\xffexceeded",
	} {
		r := newRig(t)
		v := r.w.HandleTrigger(testCtx, Msg{Subject: subject, Data: []byte("{}"), Delivered: 1})
		if v.Kind != Ack {
			t.Fatalf("subject %q: verdict %v (%s), want ack", subject[:30], v.Kind, v.Reason)
		}
		var rej event.Rejected
		ev := decodeEvent(t, r.pub.all()[0], &rej)
		if err := rej.Validate(); err != nil {
			t.Errorf("rejection does not validate: %v", err)
		}
		if ev.Subject != "" || rej.Subject == "" || len(rej.Subject) > event.MaxSubjectLen {
			t.Errorf("envelope subject %q, data subject %q; want the envelope's left out, the data's made printable", ev.Subject, rej.Subject)
		}
	}
}

func TestHandleTriggerRejectionPublishFails(t *testing.T) {
	r := newRig(t)
	r.pub.fail = func(string, string) error { return errBoom }
	v := r.w.HandleTrigger(testCtx, Msg{Subject: "copyguard.trigger.budget.exceeded", Data: []byte("{"), Delivered: 1})
	if v.Kind != Nak {
		t.Errorf("verdict = %v, want nak: the rejection was not stored", v.Kind)
	}
}

// TestHandleTriggerPanic checks that a panic while deciding is turned into
// a rejection rather than a crash.
func TestHandleTriggerPanic(t *testing.T) {
	r := fixtureRig(t)
	r.claims.fail = func(string, string) error { panic("nil map in a dependency") }
	v := r.w.HandleTrigger(testCtx, budgetTrigger(t, "t-1", "ml"))
	if v.Kind != Ack {
		t.Errorf("verdict = %v (%s), want ack after a rejection", v.Kind, v.Reason)
	}
	rej := r.pub.with("copyguard.rejected")
	if len(rej) != 1 {
		t.Fatalf("published %+v, want one rejection", r.pub.all())
	}
	var got event.Rejected
	decodeEvent(t, rej[0], &got)
	if !strings.Contains(got.Reason, "nil map in a dependency") {
		t.Errorf("reason = %q, want the panic", got.Reason)
	}
}

// TestHandleTriggerPublisherPanics: when the publisher itself panics, the
// rejection cannot be published either; the trigger is handed back with a
// delay rather than crashing the process.
func TestHandleTriggerPublisherPanics(t *testing.T) {
	r := newRig(t)
	r.pub.fail = func(string, string) error { panic("publisher broke") }
	m := triggerMsg(t, "cancel.requested", "t-pp", map[string]any{"image_id": "m-none0001", "region": "cn-hangzhou", "reason": "x"})
	v := r.w.HandleTrigger(testCtx, m)
	if v.Kind != Nak || v.Delay <= 0 {
		t.Fatalf("verdict %+v, want a delayed nak", v)
	}
	if n := len(r.pub.all()); n != 0 {
		t.Errorf("%d messages published", n)
	}
}
