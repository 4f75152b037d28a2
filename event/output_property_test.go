package event

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

func (g gen) list() []string {
	switch g.r.IntN(3) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	l := make([]string, 1+g.r.IntN(3))
	for i := range l {
		l[i] = g.text(30)
	}
	return l
}

func (g gen) copies() []DecidedCopy {
	if g.r.IntN(3) == 0 {
		return nil
	}
	c := make([]DecidedCopy, g.r.IntN(3))
	for i := range c {
		c[i] = DecidedCopy{ImageID: "m-" + g.pick("abcd1234", "bp1g6zv0ce8oghu7k2tq"), Region: g.pick("cn-hangzhou", "us-west-1"),
			Policies: g.list(), Reason: g.pick("", g.text(40))}
	}
	return c
}

func (g gen) utc() time.Time {
	t := g.time()
	if t.IsZero() || t.Year() < 1 || t.Year() > 9998 || t.UTC().Year() > 9998 || t.UTC().Year() < 1 {
		return time.Date(2026, 5, 1, 10, 0, 0, g.r.IntN(1e9), time.UTC)
	}
	if _, off := t.Zone(); off%60 != 0 {
		return t.UTC()
	}
	return t
}

// normalize makes nil and empty lists equal, as they are on the wire.
func normalize[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// TestOutputRoundTripProperty: a Result or Decision written by Marshal is
// an event Decode accepts, whose data unmarshals to the same value (lists
// that were nil come back empty, times come back as the same instant).
func TestOutputRoundTripProperty(t *testing.T) {
	g := newGen(3)
	for i := range 1500 {
		trig := TriggerRef{ID: g.text(20), Type: g.text(20), Source: g.text(20)}
		decided := g.utc()
		r := Result{Trigger: trig, Outcome: string(cloud.Outcomes[g.r.IntN(len(cloud.Outcomes))]), Policies: g.list(),
			ImageID: "m-abcd1234", Region: "cn-hangzhou", SourceRegion: g.pick("", "us-west-1"), Attempts: g.r.IntN(10),
			RequestID: g.pick("", g.text(30)), ErrorCode: g.pick("", "Throttling.User"), ErrorMessage: g.pick("", g.text(200)),
			Reason: g.pick("", g.text(200)), DryRun: g.r.IntN(2) == 0, DecidedAt: decided,
			FinishedAt: decided.Add(time.Duration(g.r.IntN(1e6))), Instance: g.text(30)}
		d := Decision{Trigger: trig, PolicyVersion: g.text(20), Fired: g.list(), Cancel: g.copies(), Planned: g.copies(),
			Protected: g.copies(), Held: g.copies(), AlreadyDecided: g.copies(), ErrorsDropped: g.r.IntN(3),
			Paused: g.r.IntN(2) == 0, DryRun: g.r.IntN(2) == 0, DecidedAt: decided, Instance: g.text(30)}
		if g.r.IntN(2) == 0 {
			d.Errors = []EvalError{{Policy: g.text(10), Field: g.pick("when", "match"), ImageID: g.pick("", "m-abcd1234"), Message: g.text(100)}}
		}

		b, err := Marshal(TypeResult, "copyguard/w", "id-"+g.text(10), "cn-hangzhou/m-abcd1234", r.FinishedAt, r)
		if err != nil {
			t.Fatalf("case %d: Marshal result: %v", i, err)
		}
		e, err := Decode(b, 0)
		if err != nil {
			t.Fatalf("case %d: Decode result: %v\n%s", i, err, b)
		}
		var back Result
		if err := json.Unmarshal(e.Data, &back); err != nil {
			t.Fatal(err)
		}
		if !back.DecidedAt.Equal(r.DecidedAt) || !back.FinishedAt.Equal(r.FinishedAt) || !e.Time.Equal(r.FinishedAt) {
			t.Fatalf("case %d: times changed: %v %v %v", i, back.DecidedAt, back.FinishedAt, e.Time)
		}
		want := r
		want.Policies = normalize(r.Policies)
		want.DecidedAt, want.FinishedAt, back.DecidedAt, back.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("case %d: result changed:\n%#v\n%#v", i, want, back)
		}

		b, err = Marshal(TypeDecision, "copyguard/w", "d", "", d.DecidedAt, d)
		if err != nil {
			t.Fatalf("case %d: Marshal decision: %v", i, err)
		}
		if e, err = Decode(b, 0); err != nil {
			t.Fatalf("case %d: Decode decision: %v\n%s", i, err, b)
		}
		var raw map[string]any
		if err := json.Unmarshal(e.Data, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"policies_fired", "cancel", "planned", "protected", "held", "already_decided", "errors"} {
			if _, ok := raw[k].([]any); !ok {
				t.Fatalf("case %d: %s is %#v, want a list", i, k, raw[k])
			}
		}
		var dback Decision
		if err := json.Unmarshal(e.Data, &dback); err != nil {
			t.Fatal(err)
		}
		dwant := d
		dwant.Fired, dwant.Errors = normalize(d.Fired), normalize(d.Errors)
		for _, l := range []*[]DecidedCopy{&dwant.Cancel, &dwant.Planned, &dwant.Protected, &dwant.Held, &dwant.AlreadyDecided} {
			c := append([]DecidedCopy{}, *l...)
			for j := range c {
				c[j].Policies = normalize(c[j].Policies)
			}
			*l = c
		}
		if !dback.DecidedAt.Equal(d.DecidedAt) {
			t.Fatalf("case %d: decided_at changed", i)
		}
		dwant.DecidedAt, dback.DecidedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(dback, dwant) {
			t.Fatalf("case %d: decision changed:\n%#v\n%#v", i, dwant, dback)
		}
	}
}

func TestDecisionValidateRules(t *testing.T) {
	good := func() Decision {
		return Decision{Trigger: ref, PolicyVersion: "v", DecidedAt: decidedAt, Instance: "h",
			Cancel: []DecidedCopy{{ImageID: "m-abcd1234", Region: "cn-hangzhou"}}}
	}
	bad := DecidedCopy{ImageID: "m-1", Region: "cn-hangzhou"}
	tests := []struct {
		name   string
		mutate func(*Decision)
		want   string
	}{
		{"no trigger id", func(d *Decision) { d.Trigger.ID = "" }, "trigger.id: must not be empty"},
		{"no trigger source", func(d *Decision) { d.Trigger.Source = "" }, "trigger.source: must not be empty"},
		{"bad cancel image", func(d *Decision) { d.Cancel[0].ImageID = "x" }, `cancel[0].image_id: "x" is not a custom image id: want m- followed by 4-40 lowercase letters or digits`},
		{"no cancel region", func(d *Decision) { d.Cancel = append(d.Cancel, DecidedCopy{ImageID: "m-abcd1234"}) }, "cancel[1].region: must not be empty"},
		{"bad planned", func(d *Decision) { d.Planned = []DecidedCopy{bad} }, `planned[0].image_id: "m-1" is not a custom image id: want m- followed by 4-40 lowercase letters or digits`},
		{"bad protected", func(d *Decision) { d.Protected = []DecidedCopy{bad} }, `protected[0].image_id: "m-1" is not a custom image id: want m- followed by 4-40 lowercase letters or digits`},
		{"bad already decided", func(d *Decision) { d.AlreadyDecided = []DecidedCopy{{ImageID: "m-abcd1234", Region: "CN"}} },
			`already_decided[0].region: "CN" is not a region id: want lowercase letters, digits and hyphens like cn-hangzhou or ap-southeast-1`},
		{"no eval policy", func(d *Decision) { d.Errors = []EvalError{{Field: "when", Message: "m"}} }, "errors[0].policy: must not be empty"},
		{"second eval error", func(d *Decision) {
			d.Errors = []EvalError{{Policy: "p", Field: "when", Message: "m"}, {Policy: "p", Field: "", Message: "m"}}
		}, `errors[1].field: "" is not a policy expression: want "when" or "match"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good()
			tt.mutate(&d)
			if err := d.Validate(); err == nil || err.Error() != tt.want {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestResultValidateDryRunOutcomes(t *testing.T) {
	for _, o := range cloud.Outcomes {
		r := goodResult()
		r.Outcome, r.DryRun = string(o), true
		err := r.Validate()
		allowed := o == cloud.OutcomePlanned || o == cloud.OutcomeProtected || o == cloud.OutcomeHeld
		if allowed != (err == nil) {
			t.Errorf("dry-run %s: %v", o, err)
		}
	}
	r := goodResult()
	r.ErrorCode, r.ErrorMessage = "X", ""
	if err := r.Validate(); err != nil {
		t.Errorf("failed with only a code: %v", err)
	}
	r.ErrorCode, r.ErrorMessage = "", "m"
	if err := r.Validate(); err != nil {
		t.Errorf("failed with only a message: %v", err)
	}
	r.FinishedAt = r.DecidedAt
	if err := r.Validate(); err != nil {
		t.Errorf("finished at the instant it was decided: %v", err)
	}
	rej := Rejected{Subject: "s", Reason: "r", Instance: "h", At: decidedAt}
	for _, tt := range []struct {
		mutate func(*Rejected)
		want   string
	}{
		{func(r *Rejected) { r.Reason = "" }, "reason: must not be empty"},
		{func(r *Rejected) { r.Instance = "" }, "instance: must not be empty"},
		{func(r *Rejected) { r.At = time.Time{} }, "at: must be set"},
	} {
		x := rej
		tt.mutate(&x)
		if err := x.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("Rejected.Validate = %v, want %q", err, tt.want)
		}
	}
}
