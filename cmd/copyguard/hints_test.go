package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagHints: a mistyped flag of any command gets the nearest one, in
// the flag package's complaint and in the error.
func TestFlagHints(t *testing.T) {
	tests := []struct {
		args []string
		want string // in stderr; "" = no hint
	}{
		{[]string{"run", "--polcy", "x"}, "flag provided but not defined: -polcy (did you mean --policy?)\n"},
		{[]string{"trigger", "budget.exceeded", "--dta", "{}"}, "flag provided but not defined: -dta (did you mean --data?)\n"},
		{[]string{"pause", "--reasn", "x"}, "flag provided but not defined: -reasn (did you mean --reason?)\n"},
		{[]string{"plan", "budget.exceeded", "--polcy", "x"}, "flag provided but not defined: -polcy (did you mean --policy?)\n"},
		{[]string{"claims", "--sate", "failed"}, "flag provided but not defined: -sate (did you mean --state?)\n"},
		{[]string{"copies", "--regoin", "x"}, "flag provided but not defined: -regoin (did you mean --region?)\n"},
		{[]string{"release", "--by", "x", "--forse"}, "flag provided but not defined: -forse (did you mean --force?)\n"},
		{[]string{"policy", "check", "--frobnicate"}, "flag provided but not defined: -frobnicate\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errOut, err := cli(t, tt.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(errOut, tt.want) || !strings.Contains(strings.ToLower(errOut), "usage") {
				t.Errorf("stderr:\n%s\nwant it to hold %q, and the usage", errOut, tt.want)
			}
			if tt.args[0] != "run" && tt.args[0] != "policy" && tt.want != err.Error()+"\n" {
				t.Errorf("error %q, want the same text as stderr's %q", err, tt.want)
			}
		})
	}
	// -h is no mistake: the usage, on stdout, with no hint.
	if out, errOut, err := cli(t, "copies", "-h"); err != nil || !strings.Contains(out, "-region") || strings.Contains(out, "did you mean") || errOut != "" {
		t.Errorf("copies -h: %v\n%s\nstderr: %s", err, out, errOut)
	}
	_, _, err := cli(t, "pasue")
	if err == nil || err.Error() != `unknown command "pasue" (did you mean pause?)` {
		t.Errorf("unknown command: %v", err)
	}
}

// TestConfigKeyHint: a mistyped key in the config file names the nearest one.
func TestConfigKeyHint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "copyguard.yaml")
	if err := os.WriteFile(path, []byte("policy: [x]\nregoins: cn-hangzhou\nfrobnicate: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig([]string{"--config", path}, func(string) string { return "" }, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), path+`:2:1: unknown setting "regoins" (did you mean regions?)`) ||
		!strings.Contains(err.Error(), path+`:3:1: unknown setting "frobnicate"`) || strings.Count(err.Error(), "did you mean") != 1 {
		t.Errorf("config errors:\n%v", err)
	}
}

// TestTriggerTypeHints: a type that is not built in is published with a
// warning naming the nearest built-in type; with --policy, a type no
// cancel policy acts on is refused, with the nearest type they act on.
func TestTriggerTypeHints(t *testing.T) {
	b := startBus(t, "copyguard")
	_, errOut, err := cli(t, "trigger", "budget.exceded", "--nats-url", b.url, "--data", `{}`)
	if err != nil || errOut != `copyguard: trigger type "budget.exceded" is not built in (did you mean budget.exceeded?); `+
		"it is acted on only if a policy listens to it (check with --policy PATH)\n" {
		t.Errorf("near miss: %v %q", err, errOut)
	}
	_, errOut, err = cli(t, "trigger", "cost.anomaly", "--nats-url", b.url)
	if err != nil || !strings.HasPrefix(errOut, `copyguard: trigger type "cost.anomaly" is not built in; it is acted on only if`) {
		t.Errorf("custom type: %v %q", err, errOut)
	}
	_, errOut, err = cli(t, "trigger", "cancel.requested", "--nats-url", b.url, "--data", `{"image_id":"m-abcd1234","region":"cn-hangzhou","reason":"r"}`)
	if err != nil || errOut != "" {
		t.Errorf("built-in type: %v %q", err, errOut)
	}
	if n := streamMsgs(t, b.topo.Triggers); n != 3 {
		t.Errorf("%d triggers published, want 3", n)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(`
policies:
  - name: anomaly
    on: [cost.anomaly]
    match: copy.progress < 50
    action: cancel
  - name: quarantine
    on: [region.quarantined]
    match: copy.region == trigger.data.region
    action: cancel
    active_for: 1h
    released_by: region.released
  - name: golden
    on: ["*"]
    match: copy.tags["protect"] == "true"
    action: protect
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		typ, data, want string
	}{
		{"cost.anomaly", `{}`, ""},
		{"region.released", `{"region":"cn-hangzhou"}`, ""},
		{"cost.anomoly", `{}`, `trigger type "cost.anomoly": no enabled cancel policy in ` + dir + ` listens to it, and it releases no condition (did you mean cost.anomaly?); not published`},
		{"budget.exceeded", `{"budget":"b","percent":120}`, `trigger type "budget.exceeded": no enabled cancel policy in ` + dir + ` listens to it, and it releases no condition; not published`},
	} {
		_, errOut, err := cli(t, "trigger", tt.typ, "--nats-url", b.url, "--policy", dir, "--data", tt.data)
		switch {
		case tt.want == "" && (err != nil || errOut != ""):
			t.Errorf("%s: %v %q", tt.typ, err, errOut)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("%s: %v, want %s", tt.typ, err, tt.want)
		}
	}
	if n := streamMsgs(t, b.topo.Triggers); n != 5 {
		t.Errorf("%d triggers published, want 5 (the refused ones not)", n)
	}
}
