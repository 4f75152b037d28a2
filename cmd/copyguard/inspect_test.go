package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/worker"
)

// seedBuckets writes copies, claims and a condition as workers store them.
func seedBuckets(t *testing.T, b *testBus) {
	t.Helper()
	put := func(kv jetstream.KeyValue, key, val string) {
		t.Helper()
		if _, err := kv.Put(t.Context(), key, []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	put(b.topo.Copies, "cn-shanghai.m-aaaa0001", `{"image_id":"m-aaaa0001","region":"cn-shanghai","source_region":"cn-hangzhou",`+
		`"status":"Creating","progress":42,"tags":{"team":"ml","cost-center":"a"},"seen_at":"2025-03-01T10:00:00Z"}`)
	put(b.topo.Copies, "eu-central-1.m-bbbb0001", `{"image_id":"m-bbbb0001","region":"eu-central-1","status":"Waiting","progress":0}`)
	put(b.topo.Claims, "cn-shanghai.m-aaaa0001", `{"trigger":{"id":"t-1","type":"budget.exceeded","source":"test"},"policies":["budget"],`+
		`"image_id":"m-aaaa0001","region":"cn-shanghai","state":"done","attempts":1,"owner":"w1",`+
		`"decided_at":"2025-03-01T10:00:00Z","updated_at":"2025-03-01T10:00:01Z",`+
		`"result":{"trigger":{"id":"t-1","type":"budget.exceeded","source":"test"},"outcome":"failed","policies":["budget"],`+
		`"image_id":"m-aaaa0001","region":"cn-shanghai","source_region":"cn-hangzhou","attempts":1,"error_code":"InvalidParameter",`+
		`"error_message":"bad","dry_run":false,"decided_at":"2025-03-01T10:00:00Z","finished_at":"2025-03-01T10:00:01Z","instance":"w1"}}`)
	put(b.topo.Claims, "cn-hangzhou.m-cccc0001", `{"trigger":{"id":"t-2","type":"cancel.requested","source":"test"},"policies":["operator"],`+
		`"image_id":"m-cccc0001","region":"cn-hangzhou","state":"calling","attempts":2,"owner":"w2",`+
		`"decided_at":"2025-03-01T11:00:00Z","updated_at":"2025-03-01T11:00:02Z"}`)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	put(b.topo.Conditions, "c1", `{"policy":"quarantine-region","trigger":{"id":"q-1","type":"region.quarantined","source":"test",`+
		`"data":{"region":"ap-southeast-1","reason":"incident"}},"ref":{"id":"q-1","type":"region.quarantined","source":"test"},"expires":"`+expires+`"}`)
	put(b.topo.Conditions, "c0", `{"policy":"old","trigger":{"id":"q-0","type":"region.quarantined","source":"test","data":{"region":"x"}},`+
		`"ref":{"id":"q-0","type":"region.quarantined","source":"test"},"expires":"2020-01-01T00:00:00Z"}`)
}

// jsonLines decodes --json output: one object per line, each with
// exactly the keys want (optional ones may be absent).
func jsonLines(t *testing.T, out string, keys, optional []string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON object: %q: %v", l, err)
		}
		for k := range m {
			if !slices.Contains(keys, k) && !slices.Contains(optional, k) {
				t.Errorf("unexpected key %q in %s", k, l)
			}
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("key %q missing in %s", k, l)
			}
		}
		rows = append(rows, m)
	}
	return rows
}

// TestInspection: copies, conditions and claims print the buckets as
// aligned tables, and with --json one object per line with the SPEC's
// fields.
func TestInspection(t *testing.T) {
	b := startBus(t, "copyguard")
	seedBuckets(t, b)

	out, _, err := cli(t, "copies", "--nats-url", b.url)
	if err != nil {
		t.Fatal(err)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^REGION +IMAGE +STATUS +PROGRESS +TAGS +OBSERVED +CLAIM$`),
		regexp.MustCompile(`^cn-shanghai +m-aaaa0001 +Creating +42% +cost-center=a,team=ml +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +failed$`),
		regexp.MustCompile(`^eu-central-1 +m-bbbb0001 +Waiting +0% +- +\S+ +-$`),
	}
	checkLines(t, "copies", out, want)
	// The columns line up.
	lines := strings.Split(out, "\n")
	if strings.Index(lines[0], "CLAIM") != strings.Index(lines[1], "failed") {
		t.Errorf("columns not aligned:\n%s", out)
	}

	out, _, err = cli(t, "copies", "--nats-url", b.url, "--json")
	if err != nil {
		t.Fatal(err)
	}
	rows := jsonLines(t, out, []string{"image_id", "region", "status", "progress", "tags", "observed_at"}, []string{"claim"})
	if len(rows) != 2 || rows[0]["claim"] != "failed" || rows[0]["progress"] != 42.0 || rows[1]["claim"] != nil ||
		rows[0]["tags"].(map[string]any)["team"] != "ml" {
		t.Errorf("copies --json:\n%s", out)
	}
	if _, err := time.Parse(time.RFC3339Nano, rows[0]["observed_at"].(string)); err != nil {
		t.Errorf("observed_at: %v", err)
	}
	out, _, err = cli(t, "copies", "--nats-url", b.url, "--json", "--region", "eu-central-1")
	if err != nil || strings.Count(out, "\n") != 1 || !strings.Contains(out, "m-bbbb0001") {
		t.Errorf("copies --region: %v\n%s", err, out)
	}

	out, _, err = cli(t, "conditions", "--nats-url", b.url)
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, "conditions", out, []*regexp.Regexp{
		regexp.MustCompile(`^POLICY +TRIGGER +TYPE +REGION +EXPIRES$`),
		regexp.MustCompile(`^quarantine-region +q-1 +region\.quarantined +ap-southeast-1 +\S+Z$`),
	})
	out, _, err = cli(t, "conditions", "--nats-url", b.url, "--json")
	if err != nil {
		t.Fatal(err)
	}
	rows = jsonLines(t, out, []string{"policy", "trigger_id", "trigger_type", "region", "expires_at"}, nil)
	if len(rows) != 1 || rows[0]["policy"] != "quarantine-region" || rows[0]["region"] != "ap-southeast-1" {
		t.Errorf("conditions --json (the expired one left out):\n%s", out)
	}

	out, _, err = cli(t, "claims", "--nats-url", b.url)
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, "claims", out, []*regexp.Regexp{
		regexp.MustCompile(`^REGION +IMAGE +STATE +OUTCOME +TRIGGER +TYPE +POLICIES +ATTEMPTS +OWNER +UPDATED +ERROR$`),
		regexp.MustCompile(`^cn-hangzhou +m-cccc0001 +calling +- +t-2 +cancel\.requested +operator +2 +w2 +2025-03-01T11:00:02Z +-$`),
		regexp.MustCompile(`^cn-shanghai +m-aaaa0001 +failed +failed +t-1 +budget\.exceeded +budget +1 +w1 +2025-03-01T10:00:01Z +InvalidParameter: bad$`),
	})
	claimKeys := []string{"image_id", "region", "state", "trigger_id", "trigger_type", "policies", "attempts", "owner", "decided_at", "updated_at"}
	claimOpt := []string{"outcome", "error_code", "error_message"}
	out, _, err = cli(t, "claims", "--nats-url", b.url, "--state", "failed", "--json")
	if err != nil {
		t.Fatal(err)
	}
	rows = jsonLines(t, out, claimKeys, claimOpt)
	if len(rows) != 1 || rows[0]["image_id"] != "m-aaaa0001" || rows[0]["outcome"] != "failed" || rows[0]["error_code"] != "InvalidParameter" {
		t.Errorf("claims --state failed --json:\n%s", out)
	}
	out, _, err = cli(t, "claims", "--nats-url", b.url, "--state", "calling", "--json")
	if rows = jsonLines(t, out, claimKeys, claimOpt); err != nil || len(rows) != 1 || rows[0]["state"] != "calling" {
		t.Errorf("claims --state calling: %v\n%s", err, out)
	}
	if _, _, err := cli(t, "claims", "--nats-url", b.url, "--state", "faild"); err == nil ||
		err.Error() != `--state "faild": want one of decided, calling, done, failed (did you mean failed?)` {
		t.Errorf("claims --state faild: %v", err)
	}

	// Empty buckets print the header alone, or nothing as JSON.
	e := startBus(t, "empty")
	for _, cmd := range []string{"copies", "conditions", "claims"} {
		out, _, err := cli(t, cmd, "--nats-url", e.url, "--subject-prefix", "empty")
		if err != nil || strings.Count(out, "\n") != 1 {
			t.Errorf("%s on empty buckets: %v %q", cmd, err, out)
		}
		out, _, err = cli(t, cmd, "--nats-url", e.url, "--subject-prefix", "empty", "--json")
		if err != nil || out != "" {
			t.Errorf("%s --json on empty buckets: %v %q", cmd, err, out)
		}
	}
}

func checkLines(t *testing.T, what, out string, want []*regexp.Regexp) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%s: %d lines, want %d:\n%s", what, len(lines), len(want), out)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("%s line %d: %q does not match %s", what, i+1, lines[i], re)
		}
	}
}

// auditEvents returns the audit events on the events stream.
func auditEvents(t *testing.T, b *testBus) []event.Audit {
	t.Helper()
	var out []event.Audit
	n := streamMsgs(t, b.topo.Events)
	for seq := uint64(1); seq <= n; seq++ {
		m, err := b.topo.Events.GetMsg(t.Context(), seq)
		if err != nil || m.Subject != b.names.AuditSubject() {
			continue
		}
		ev, err := event.Decode(m.Data, 0)
		if err != nil {
			t.Fatalf("audit event: %v", err)
		}
		a, err := event.DecodeAudit(ev)
		if err != nil {
			t.Fatalf("audit event: %v", err)
		}
		if ev.ID != a.ID() || m.Header.Get(jetstream.MsgIDHeader) != a.ID() {
			t.Errorf("audit event id %q, Nats-Msg-Id %q, want %q", ev.ID, m.Header.Get(jetstream.MsgIDHeader), a.ID())
		}
		out = append(out, a)
	}
	return out
}

// TestAuditOfPauseResumeRelease: pause, resume and release say who and
// why in copyguard.audit events; release deletes only a failed claim
// unless forced.
func TestAuditOfPauseResumeRelease(t *testing.T) {
	b := startBus(t, "copyguard")
	seedBuckets(t, b)
	t.Setenv("USER", "carol")
	host, _ := os.Hostname()

	if _, _, err := cli(t, "pause", "--nats-url", b.url, "--reason", "INC-7", "--by", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, "resume", "--nats-url", b.url, "--reason", "INC-7 over"); err != nil {
		t.Fatal(err)
	}
	e, err := b.topo.Control.Get(t.Context(), worker.PauseKey)
	if err != nil {
		t.Fatal(err)
	}
	var p worker.PauseState
	if err := json.Unmarshal(e.Value(), &p); err != nil || p.Paused || p.By != "carol@"+host || p.Reason != "INC-7 over" {
		t.Errorf("pause switch after resume: %+v %v", p, err)
	}

	// release: a reason is required; only a failed claim goes without --force.
	if _, _, err := cli(t, "release", "cn-shanghai/m-aaaa0001", "--nats-url", b.url); err == nil || !strings.Contains(err.Error(), "--reason is required") {
		t.Errorf("release without --reason: %v", err)
	}
	if _, _, err := cli(t, "release", "cn-shanghai/m-nope0001", "--nats-url", b.url, "--reason", "x"); err == nil ||
		!strings.Contains(err.Error(), "release cn-shanghai/m-nope0001: no claim") {
		t.Errorf("release of no claim: %v", err)
	}
	if _, _, err := cli(t, "release", "cn-shanghai:m-aaaa0001", "--nats-url", b.url, "--reason", "x"); err == nil ||
		!strings.Contains(err.Error(), "want REGION/IMAGE_ID") {
		t.Errorf("release of a malformed target: %v", err)
	}
	if _, _, err := cli(t, "release", "cn-hangzhou/m-cccc0001", "--nats-url", b.url, "--reason", "stuck"); err == nil ||
		!strings.Contains(err.Error(), "the claim is calling, not failed (trigger t-2)") {
		t.Errorf("release of a calling claim: %v", err)
	}
	out, _, err := cli(t, "release", "cn-shanghai/m-aaaa0001", "--nats-url", b.url, "--reason", "INC-7: key fixed", "--by", "bob")
	if err != nil || out != "released cn-shanghai/m-aaaa0001 (was failed, trigger t-1): a new trigger may decide it again\n" {
		t.Errorf("release: %v %q", err, out)
	}
	if _, err := b.topo.Claims.Get(t.Context(), "cn-shanghai.m-aaaa0001"); err == nil {
		t.Error("the claim is still there")
	}
	if _, _, err := cli(t, "release", "cn-hangzhou/m-cccc0001", "--nats-url", b.url, "--reason", "stuck worker", "--force"); err != nil {
		t.Errorf("release --force: %v", err)
	}

	got := auditEvents(t, b)
	want := []event.Audit{
		{Action: event.AuditPause, By: "bob", Reason: "INC-7"},
		{Action: event.AuditResume, By: "carol@" + host, Reason: "INC-7 over"},
		{Action: event.AuditRelease, By: "bob", Reason: "INC-7: key fixed", Target: "cn-shanghai/m-aaaa0001"},
		{Action: event.AuditRelease, By: "carol@" + host, Reason: "stuck worker", Target: "cn-hangzhou/m-cccc0001"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d audit events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		if time.Since(g.At) > time.Minute {
			t.Errorf("audit %d at %v", i, g.At)
		}
		g.At = time.Time{}
		if g != want[i] {
			t.Errorf("audit %d: %+v, want %+v", i, g, want[i])
		}
	}

	// watch shows them.
	out, _, err = cli(t, "watch", "--nats-url", b.url, "--all", "--count", "1")
	if err != nil || !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} audit    pause +by bob: INC-7\n$`).MatchString(out) {
		t.Errorf("watch: %v %q", err, out)
	}
}

// TestAuditNeedsTheSubject: on an events stream made before the audit
// subject, pause still pauses, and says at once that it was not audited
// and what to do.
func TestAuditNeedsTheSubject(t *testing.T) {
	b := startBus(t, "copyguard")
	cfg := b.topo.Events.CachedInfo().Config
	cfg.Subjects = slices.DeleteFunc(slices.Clone(cfg.Subjects), func(s string) bool { return s == b.names.AuditSubject() })
	if _, err := b.js.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, _, err := cli(t, "pause", "--nats-url", b.url, "--reason", "INC-8")
	if err == nil || err.Error() != "pause done, but its audit event was not recorded: stream COPYGUARD_EVENTS does not take copyguard.audit yet: "+
		"start one worker with --update-topology once" || !strings.HasPrefix(out, "paused:") {
		t.Errorf("pause: %v %q", err, out)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v: it waited for a stream that cannot answer", d)
	}
	if e, err := b.topo.Control.Get(t.Context(), worker.PauseKey); err != nil || !strings.Contains(string(e.Value()), `"paused":true`) {
		t.Errorf("not paused: %v", err)
	}
}
