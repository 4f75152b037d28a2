package event

import "testing"

func TestSubjects(t *testing.T) {
	for _, tt := range []struct{ prefix, want string }{{"", "copyguard"}, {"copyguard", "copyguard"}, {"acme", "acme"}, {"org.team-1", "org.team-1"}} {
		s := SubjectsFor(tt.prefix)
		p := tt.want
		got := map[string]string{
			"prefix":   s.Prefix,
			"trigger":  s.Trigger("budget.exceeded"),
			"triggers": s.Triggers(),
			"started":  s.Copy("started"),
			"finished": s.Copy("finished"),
			"copies":   s.Copies(),
			"job":      s.Job("cn-hangzhou"),
			"jobs":     s.Jobs(),
			"result":   s.Result("cancelled"),
			"results":  s.Results(),
			"decision": s.Decision(),
			"rejected": s.Rejected(),
			"audit":    s.Audit(),
		}
		want := map[string]string{
			"prefix":   p,
			"trigger":  p + ".trigger.budget.exceeded",
			"triggers": p + ".trigger.>",
			"started":  p + ".copy.started",
			"finished": p + ".copy.finished",
			"copies":   p + ".copy.>",
			"job":      p + ".job.cn-hangzhou",
			"jobs":     p + ".job.>",
			"result":   p + ".result.cancelled",
			"results":  p + ".result.>",
			"decision": p + ".decision",
			"rejected": p + ".rejected",
			"audit":    p + ".audit",
		}
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("prefix %q: %s = %q, want %q", tt.prefix, k, got[k], want[k])
			}
		}
	}
}

func TestCheckSubjectPrefixes(t *testing.T) {
	tests := []struct {
		name, typ, subject, prefix, want string
	}{
		{"dotted prefix trigger", "a.b", "org.team.trigger.a.b", "org.team", ""},
		{"dotted prefix started", TypeCopyStarted, "org.team.copy.started", "org.team", ""},
		{"default prefix refused under another", "a", "copyguard.trigger.a", "acme",
			`subject "copyguard.trigger.a" is not an input subject: want acme.trigger.<type>, acme.copy.started or acme.copy.finished`},
		{"prefix alone", "a", "acme", "acme", `subject "acme" is not an input subject: want acme.trigger.<type>, acme.copy.started or acme.copy.finished`},
		{"trigger without dot", "a", "acme.triggera", "acme", `subject "acme.triggera" is not an input subject: want acme.trigger.<type>, acme.copy.started or acme.copy.finished`},
		{"decision is output", TypeDecision, "acme.decision", "acme", `subject "acme.decision" is not an input subject: want acme.trigger.<type>, acme.copy.started or acme.copy.finished`},
		{"inventory type on trigger subject", TypeCopyStarted, "acme.trigger.budget.exceeded", "acme",
			`type: "copy.started" does not match subject "acme.trigger.budget.exceeded", which carries type "budget.exceeded"`},
		{"trigger type on inventory subject", "budget.exceeded", "acme.copy.started", "acme",
			`type: "budget.exceeded" does not match subject "acme.copy.started", which carries type "copy.started"`},
		{"copy.other", TypeCopyStarted, "acme.copy.other", "acme", `subject "acme.copy.other" is not an input subject: want acme.trigger.<type>, acme.copy.started or acme.copy.finished`},
		{"upper case type in subject", "Budget", "acme.trigger.Budget", "acme", `subject "acme.trigger.Budget" does not end in a valid trigger type`},
		{"trailing dot", "a", "acme.trigger.a.", "acme", `subject "acme.trigger.a." does not end in a valid trigger type`},
		{"full wildcard", "a", "acme.trigger.>", "acme", `subject "acme.trigger.>" does not end in a valid trigger type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSubject(&Event{Type: tt.typ}, tt.subject, tt.prefix)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CheckSubject = %q, want %q", got, tt.want)
			}
		})
	}
	if err := CheckSubject(nil, "copyguard.copy.started", ""); err == nil || err.Error() != "nil event" {
		t.Errorf("nil event: %v", err)
	}
}
