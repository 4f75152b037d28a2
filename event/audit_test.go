package event

import (
	"strings"
	"testing"
	"time"
)

func TestAuditValidate(t *testing.T) {
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	ok := Audit{Action: AuditRelease, By: "alice@ops-1", Reason: "INC-42: credentials fixed", Target: "cn-hangzhou/m-bp1abcd1234", At: at}
	tests := []struct {
		name   string
		change func(*Audit)
		want   string // "" = valid
	}{
		{"release", func(*Audit) {}, ""},
		{"pause", func(a *Audit) { a.Action, a.Target = AuditPause, "" }, ""},
		{"resume without a reason", func(a *Audit) { a.Action, a.Target, a.Reason = AuditResume, "", "" }, ""},
		{"update-topology", func(a *Audit) {
			a.Action, a.Target, a.By, a.Reason = AuditUpdateTopology, "", "worker-1", "stream COPYGUARD_EVENTS updated: subjects"
		}, ""},
		{"unknown action", func(a *Audit) { a.Action = "unpause" }, `action: "unpause" is not an audit action: want one of pause, resume, release, update-topology`},
		{"no action", func(a *Audit) { a.Action = "" }, "action: "},
		{"no by", func(a *Audit) { a.By = "" }, "by: must not be empty"},
		{"release without a reason", func(a *Audit) { a.Reason = "" }, "reason: must not be empty"},
		{"control character in reason", func(a *Audit) { a.Reason = "x\nforged line" }, "reason: contains a control character"},
		{"reason too long", func(a *Audit) { a.Reason = strings.Repeat("x", 2000) }, "reason: is 2000 bytes long"},
		{"release without a target", func(a *Audit) { a.Target = "" }, `target: "": want REGION/IMAGE_ID`},
		{"release of a bad region", func(a *Audit) { a.Target = "Hangzhou/m-bp1abcd1234" }, `target: "Hangzhou" is not a region id`},
		{"release of a bad image id", func(a *Audit) { a.Target = "cn-hangzhou/i-bp1abcd1234" }, `target: "i-bp1abcd1234" is not a custom image id`},
		{"target on pause", func(a *Audit) { a.Action = AuditPause }, "target: must be empty for pause"},
		{"no time", func(a *Audit) { a.At = time.Time{} }, "at: must be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok
			tt.change(&a)
			err := a.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestAuditRoundTrip: an audit event encodes as a CloudEvent that the
// generic decoder and DecodeAudit read back unchanged, with the SPEC's
// field names.
func TestAuditRoundTrip(t *testing.T) {
	a := Audit{Action: AuditPause, By: "alice@ops-1", Reason: "INC-42", At: time.Date(2025, 3, 1, 10, 0, 0, 5, time.UTC)}
	body, err := Marshal(TypeAudit, "copyguard-cli", a.ID(), "", a.At, a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"data":{"action":"pause","by":"alice@ops-1","reason":"INC-42","at":"2025-03-01T10:00:00.000000005Z"}`) {
		t.Errorf("encoded as %s", body)
	}
	ev, err := Decode(body, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAudit(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got != a {
		t.Errorf("round trip: %+v, want %+v", got, a)
	}
	if _, err := DecodeAudit(&Event{Type: TypeResult, Data: ev.Data}); err == nil {
		t.Error("DecodeAudit took a result event")
	}
}

// TestAuditID: the id is stable for one action and differs between two.
func TestAuditID(t *testing.T) {
	a := Audit{Action: AuditPause, By: "alice@ops-1", Reason: "INC-42", At: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	if a.ID() != a.ID() || !strings.HasPrefix(a.ID(), "audit:pause:") || len(a.ID()) != len("audit:pause:")+24 {
		t.Errorf("ID %q", a.ID())
	}
	b := a
	b.At = b.At.Add(time.Nanosecond)
	c := a
	c.Action = AuditResume
	if a.ID() == b.ID() || a.ID() == c.ID() {
		t.Errorf("ids collide: %s %s %s", a.ID(), b.ID(), c.ID())
	}
	if err := checkText("id", a.ID(), MaxIDLen); err != nil {
		t.Errorf("id is not a valid CloudEvent id: %v", err)
	}
}
