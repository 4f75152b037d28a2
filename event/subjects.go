package event

// Subjects names copyguard's NATS subjects under a prefix (SPEC §2). It is
// the one place their layout is written: the worker publishes on them,
// bus builds its streams from them, and CheckSubject reads them back.
type Subjects struct{ Prefix string }

// SubjectsFor returns the subjects under prefix ("" means the default).
func SubjectsFor(prefix string) Subjects {
	if prefix == "" {
		prefix = DefaultSubjectPrefix
	}
	return Subjects{Prefix: prefix}
}

// Trigger is where triggers of type typ arrive: <prefix>.trigger.<type>.
func (s Subjects) Trigger(typ string) string { return s.Prefix + ".trigger." + typ }

// Triggers matches every trigger subject.
func (s Subjects) Triggers() string { return s.Prefix + ".trigger.>" }

// Copy is where inventory events arrive; what is "started" or "finished".
func (s Subjects) Copy(what string) string { return s.Prefix + ".copy." + what }

// Copies matches both inventory subjects.
func (s Subjects) Copies() string { return s.Prefix + ".copy.>" }

// Job carries the work queue of copies to cancel in one region.
func (s Subjects) Job(region string) string { return s.Prefix + ".job." + region }

// Jobs matches every job subject.
func (s Subjects) Jobs() string { return s.Prefix + ".job.>" }

// Result is where results with outcome are published.
func (s Subjects) Result(outcome string) string { return s.Prefix + ".result." + outcome }

// Results matches every result subject.
func (s Subjects) Results() string { return s.Prefix + ".result.>" }

// Decision is where decisions are published.
func (s Subjects) Decision() string { return s.Prefix + ".decision" }

// Rejected is where unusable input is reported.
func (s Subjects) Rejected() string { return s.Prefix + ".rejected" }

// Audit is where operators' actions are recorded (pause, resume,
// release, update-topology).
func (s Subjects) Audit() string { return s.Prefix + ".audit" }
