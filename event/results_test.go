package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/copyguard/copyguard/cloud"
)

var (
	decidedAt  = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	finishedAt = time.Date(2026, 5, 1, 10, 0, 2, 5e8, time.UTC)
	ref        = TriggerRef{ID: "t-1", Type: "budget.exceeded", Source: "/budgets"}
)

func goodResult() Result {
	return Result{
		Trigger: ref, Outcome: "failed", Policies: []string{"p1", "p2"}, ImageID: "m-abcd1234", Region: "cn-hangzhou",
		SourceRegion: "us-west-1", Attempts: 3, RequestID: "R-1", ErrorCode: "Forbidden.RAM", ErrorMessage: "no permission",
		Reason: "permanent error", Final: true, DecidedAt: decidedAt, FinishedAt: finishedAt, Instance: "host-1",
	}
}

func TestResultJSON(t *testing.T) {
	b, err := json.Marshal(goodResult())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"trigger":{"id":"t-1","type":"budget.exceeded","source":"/budgets"},"outcome":"failed","policies":["p1","p2"],` +
		`"image_id":"m-abcd1234","region":"cn-hangzhou","source_region":"us-west-1","attempts":3,"request_id":"R-1",` +
		`"error_code":"Forbidden.RAM","error_message":"no permission","reason":"permanent error","dry_run":false,"final":true,` +
		`"decided_at":"2026-05-01T10:00:00Z","finished_at":"2026-05-01T10:00:02.5Z","instance":"host-1"}`
	if string(b) != want {
		t.Errorf("Result JSON =\n%s\nwant\n%s", b, want)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, goodResult()) {
		t.Errorf("round trip:\n%#v\nwant\n%#v", back, goodResult())
	}

	// SPEC §5: the fields every result carries, even when zero.
	b, err = json.Marshal(Result{})
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"trigger", "outcome", "policies", "image_id", "region", "attempts", "dry_run", "decided_at", "finished_at", "instance"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("empty result has no %q: %s", k, b)
		}
	}
	if keys["policies"] == nil {
		t.Errorf("policies written as null: %s", b)
	}
}

func TestDecisionJSON(t *testing.T) {
	d := Decision{
		Trigger: ref, PolicyVersion: "sha256:ab", Fired: []string{"p1"},
		Cancel:    []DecidedCopy{{ImageID: "m-abcd1234", Region: "cn-hangzhou", Policies: []string{"p1"}}},
		Held:      []DecidedCopy{{ImageID: "m-efgh5678", Region: "cn-hangzhou", Policies: []string{"p1"}, Reason: "max_cancels 1 exceeded"}},
		Errors:    []EvalError{{Policy: "p2", Field: "match", ImageID: "m-abcd1234", Region: "cn-hangzhou", Message: "no such key: x"}},
		DecidedAt: decidedAt, Instance: "host-1",
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"trigger":{"id":"t-1","type":"budget.exceeded","source":"/budgets"},"policy_version":"sha256:ab","policies_fired":["p1"],` +
		`"cancel":[{"image_id":"m-abcd1234","region":"cn-hangzhou","policies":["p1"]}],"planned":[],"protected":[],` +
		`"held":[{"image_id":"m-efgh5678","region":"cn-hangzhou","policies":["p1"],"reason":"max_cancels 1 exceeded"}],` +
		`"already_decided":[],"errors":[{"policy":"p2","field":"match","image_id":"m-abcd1234","region":"cn-hangzhou","message":"no such key: x"}],` +
		`"paused":false,"dry_run":false,"decided_at":"2026-05-01T10:00:00Z","instance":"host-1"}`
	if string(b) != want {
		t.Errorf("Decision JSON =\n%s\nwant\n%s", b, want)
	}
	var back Decision
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	d.Planned, d.Protected, d.AlreadyDecided = []DecidedCopy{}, []DecidedCopy{}, []DecidedCopy{}
	if !reflect.DeepEqual(back, d) {
		t.Errorf("round trip:\n%#v\nwant\n%#v", back, d)
	}
}

func TestRejectedJSON(t *testing.T) {
	r := Rejected{Subject: "copyguard.trigger.x", Reason: "id: must not be empty", Field: "id", Original: `{"id":""}`,
		Instance: "host-1", At: decidedAt}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"subject":"copyguard.trigger.x","reason":"id: must not be empty","field":"id","original":"{\"id\":\"\"}",` +
		`"instance":"host-1","at":"2026-05-01T10:00:00Z"}`
	if string(b) != want {
		t.Errorf("Rejected JSON =\n%s\nwant\n%s", b, want)
	}
	var back Rejected
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Errorf("round trip: %#v, %v", back, err)
	}
}

func TestResultValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Result)
		want   string
	}{
		{"no trigger id", func(r *Result) { r.Trigger.ID = "" }, "trigger.id: must not be empty"},
		{"no trigger type", func(r *Result) { r.Trigger.Type = "" }, "trigger.type: must not be empty"},
		{"no trigger source", func(r *Result) { r.Trigger.Source = "" }, "trigger.source: must not be empty"},
		{"unknown outcome", func(r *Result) { r.Outcome = "canceled" }, `outcome: "canceled" is not an outcome: want one of cancelled, already_gone, completed, not_cancellable, protected, held, planned, skipped, failed`},
		{"no outcome", func(r *Result) { r.Outcome = "" }, `outcome: "" is not an outcome: want one of cancelled, already_gone, completed, not_cancellable, protected, held, planned, skipped, failed`},
		{"no policies", func(r *Result) { r.Policies = nil }, "policies: must name at least one policy"},
		{"empty policy", func(r *Result) { r.Policies = []string{"a", ""} }, "policies[1]: must not be empty"},
		{"no image", func(r *Result) { r.ImageID = "" }, "image_id: must not be empty"},
		{"bad image", func(r *Result) { r.ImageID = "m-1" }, `image_id: "m-1" is not a custom image id: want m- followed by 4-40 lowercase letters or digits`},
		{"no region", func(r *Result) { r.Region = "" }, "region: must not be empty"},
		{"bad source region", func(r *Result) { r.SourceRegion = "x" }, `source_region: "x" is not a region id: want lowercase letters, digits and hyphens like cn-hangzhou or ap-southeast-1`},
		{"negative attempts", func(r *Result) { r.Attempts = -1 }, "attempts: must not be negative, got -1"},
		{"failed without error", func(r *Result) { r.ErrorCode, r.ErrorMessage = "", "" }, "error_message: a failed result must carry the last error code or message"},
		{"planned not dry run", func(r *Result) { r.Outcome = "planned" }, "dry_run: a planned result must be a dry run"},
		{"dry run cancelled", func(r *Result) { r.Outcome, r.DryRun = "cancelled", true }, `dry_run: a dry run cannot have outcome "cancelled"`},
		{"no decided_at", func(r *Result) { r.DecidedAt = time.Time{} }, "decided_at: must be set"},
		{"no finished_at", func(r *Result) { r.FinishedAt = time.Time{} }, "finished_at: must be set"},
		{"finished before decided", func(r *Result) { r.FinishedAt = decidedAt.Add(-time.Second) },
			"finished_at: 2026-05-01T09:59:59Z is before decided_at 2026-05-01T10:00:00Z"},
		{"no instance", func(r *Result) { r.Instance = "" }, "instance: must not be empty"},
		{"not final and not held", func(r *Result) { r.Final = false }, `final: only a held result may be followed by another (final false); a "failed" result is final`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodResult()
			tt.mutate(&r)
			if err := r.Validate(); err == nil || err.Error() != tt.want {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
	for _, o := range cloud.Outcomes {
		r := goodResult()
		r.Outcome = string(o)
		r.DryRun = o == cloud.OutcomePlanned
		if err := r.Validate(); err != nil {
			t.Errorf("outcome %s: %v", o, err)
		}
	}
	r := goodResult()
	r.Outcome, r.DryRun = "protected", true
	if err := r.Validate(); err != nil {
		t.Errorf("dry-run protected: %v", err)
	}
	r = goodResult()
	r.Outcome, r.Final = "held", false
	if err := r.Validate(); err != nil {
		t.Errorf("held, not final (circuit open): %v", err)
	}
}

func TestDecisionAndRejectedValidate(t *testing.T) {
	good := Decision{Trigger: ref, PolicyVersion: "v", DecidedAt: decidedAt, Instance: "h"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good decision: %v", err)
	}
	tests := []struct {
		name string
		d    func() Decision
		want string
	}{
		{"no version", func() Decision { d := good; d.PolicyVersion = ""; return d }, "policy_version: must not be empty"},
		{"bad held copy", func() Decision { d := good; d.Held = []DecidedCopy{{ImageID: "m-abcd1234"}}; return d }, "held[0].region: must not be empty"},
		{"bad eval field", func() Decision { d := good; d.Errors = []EvalError{{Policy: "p", Field: "on", Message: "m"}}; return d },
			`errors[0].field: "on" is not a policy expression: want "when" or "match"`},
		{"no eval message", func() Decision { d := good; d.Errors = []EvalError{{Policy: "p", Field: "when"}}; return d }, "errors[0].message: must not be empty"},
		{"no instance", func() Decision { d := good; d.Instance = ""; return d }, "instance: must not be empty"},
		{"no time", func() Decision { d := good; d.DecidedAt = time.Time{}; return d }, "decided_at: must be set"},
	}
	for _, tt := range tests {
		if err := tt.d().Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("%s: Validate = %v, want %q", tt.name, err, tt.want)
		}
	}
	rej := Rejected{Subject: "s", Reason: "r", Instance: "h", At: decidedAt}
	if err := rej.Validate(); err != nil {
		t.Errorf("good rejection: %v", err)
	}
	rej.Original = strings.Repeat("x", MaxOriginal+1)
	if err := rej.Validate(); err == nil || err.Error() != "original: is 4097 bytes long, over the limit of 4096; use Reject to cut it" {
		t.Errorf("long original: %v", err)
	}
}

func TestReject(t *testing.T) {
	body := []byte(withAttr(t, "id", "5"))
	_, derr := Decode(body, 0)
	at := time.Date(2026, 1, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	r := Reject("copyguard.trigger.region.released", body, derr, "host-1", at)
	want := Rejected{Subject: "copyguard.trigger.region.released", Reason: "id: must be a string, got number", Field: "id",
		Original: string(body), Instance: "host-1", At: at.UTC()}
	if r != want {
		t.Errorf("Reject =\n%#v\nwant\n%#v", r, want)
	}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}

	// A long body with a multi-byte character across the cut, and bytes
	// that are not UTF-8.
	long := append([]byte(strings.Repeat("a", MaxOriginal-1)+"é"), 0xff, 0xfe)
	r = Reject("s", long, errors.New("body is 4099 bytes, over the limit of 10 bytes"), "h", at)
	if !r.Truncated || r.Field != "" || len(r.Original) > MaxOriginal || !utf8.ValidString(r.Original) {
		t.Errorf("truncated rejection: truncated=%v field=%q len=%d valid=%v", r.Truncated, r.Field, len(r.Original), utf8.ValidString(r.Original))
	}
	if r.Original != strings.Repeat("a", MaxOriginal-1) {
		t.Errorf("cut inside a character: %q", r.Original[len(r.Original)-4:])
	}
	bad := slices.Repeat([]byte{'a', 0xff}, MaxOriginal/2) // each 0xff becomes a 3-byte U+FFFD
	r = Reject("s", bad, errors.New("body is not valid UTF-8"), "h", at)
	if !r.Truncated || len(r.Original) > MaxOriginal || !utf8.ValidString(r.Original) {
		t.Errorf("invalid UTF-8: truncated=%v len=%d", r.Truncated, len(r.Original))
	}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}
}

// TestOutputEvents: a result goes through an event the way the worker
// sends it (event.Marshal) and comes back equal.
func TestOutputEvents(t *testing.T) {
	res := goodResult()
	b, err := Marshal(TypeResult, "copyguard/host-1", "result:cn-hangzhou.m-abcd1234:x:cancelled", "cn-hangzhou/m-abcd1234", finishedAt, res)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Decode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != TypeResult || e.Subject != "cn-hangzhou/m-abcd1234" || !e.Time.Equal(finishedAt) {
		t.Errorf("result event: %+v", e)
	}
	var back Result
	if err := json.Unmarshal(e.Data, &back); err != nil || !reflect.DeepEqual(back, res) {
		t.Errorf("result through an event: %#v, %v", back, err)
	}
}
