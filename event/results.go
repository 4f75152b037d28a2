package event

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/copyguard/copyguard/cloud"
)

// MaxOriginal bounds Rejected.Original: enough to see what a producer
// sent, small enough that a flood of bad input cannot fill the stream.
const MaxOriginal = 4 << 10

// Validate checks that a result carries what SPEC §5 promises every
// result carries, and that its fields agree with each other.
func (r Result) Validate() error {
	if err := r.Trigger.validate("trigger"); err != nil {
		return err
	}
	if !cloud.Outcome(r.Outcome).Valid() {
		return errorf("outcome", "%q is not an outcome: want one of %s", truncate(r.Outcome, 64), outcomeList())
	}
	if err := checkPolicies("policies", r.Policies); err != nil {
		return err
	}
	if err := firstError(
		checkImageID("image_id", r.ImageID, true),
		checkRegion("region", r.Region, true),
		checkRegion("source_region", r.SourceRegion, false),
	); err != nil {
		return err
	}
	if r.Attempts < 0 {
		return errorf("attempts", "must not be negative, got %d", r.Attempts)
	}
	o := cloud.Outcome(r.Outcome)
	if o == cloud.OutcomeFailed && r.ErrorCode == "" && r.ErrorMessage == "" {
		return errorf("error_message", "a failed result must carry the last error code or message")
	}
	if o == cloud.OutcomePlanned && !r.DryRun {
		return errorf("dry_run", "a planned result must be a dry run")
	}
	// A dry run never calls the cloud, so it cannot have an outcome that
	// only an answer from the cloud can give.
	if r.DryRun && o != cloud.OutcomePlanned && o != cloud.OutcomeProtected && o != cloud.OutcomeHeld {
		return errorf("dry_run", "a dry run cannot have outcome %q", r.Outcome)
	}
	if !r.Final && o != cloud.OutcomeHeld {
		return errorf("final", "only a held result may be followed by another (final false); a %q result is final", r.Outcome)
	}
	if r.DecidedAt.IsZero() {
		return errorf("decided_at", "must be set")
	}
	if r.FinishedAt.IsZero() {
		return errorf("finished_at", "must be set")
	}
	if r.FinishedAt.Before(r.DecidedAt) {
		return errorf("finished_at", "%s is before decided_at %s",
			r.FinishedAt.Format(time.RFC3339Nano), r.DecidedAt.Format(time.RFC3339Nano))
	}
	if r.Instance == "" {
		return errorf("instance", "must not be empty")
	}
	return nil
}

// Validate checks the parts of a decision other components rely on.
func (d Decision) Validate() error {
	if err := d.Trigger.validate("trigger"); err != nil {
		return err
	}
	if d.PolicyVersion == "" {
		return errorf("policy_version", "must not be empty")
	}
	lists := []struct {
		name   string
		copies []DecidedCopy
	}{
		{"cancel", d.Cancel}, {"planned", d.Planned}, {"protected", d.Protected},
		{"held", d.Held}, {"already_decided", d.AlreadyDecided},
	}
	for _, l := range lists {
		for i, c := range l.copies {
			p := l.name + "[" + strconv.Itoa(i) + "]"
			if err := firstError(
				checkImageID(p+".image_id", c.ImageID, true),
				checkRegion(p+".region", c.Region, true),
			); err != nil {
				return err
			}
			if err := c.validateSeen(p); err != nil {
				return err
			}
		}
	}
	for i, e := range d.Errors {
		p := "errors[" + strconv.Itoa(i) + "]"
		switch {
		case e.Policy == "":
			return errorf(p+".policy", "must not be empty")
		case e.Field != "when" && e.Field != "match":
			return errorf(p+".field", "%q is not a policy expression: want \"when\" or \"match\"", truncate(e.Field, 64))
		case e.Message == "":
			return errorf(p+".message", "must not be empty")
		}
	}
	if d.DecidedAt.IsZero() {
		return errorf("decided_at", "must be set")
	}
	if d.Instance == "" {
		return errorf("instance", "must not be empty")
	}
	return nil
}

// validateSeen checks the copy as seen, where the decision carries it.
func (c DecidedCopy) validateSeen(p string) *Error {
	if c.Progress != nil && (*c.Progress < 0 || *c.Progress > 100) {
		return errorf(p+".progress", "%d is not a percentage: want 0 to 100", *c.Progress)
	}
	if len(c.Status) > 64 {
		return errorf(p+".status", "%q is too long: at most 64 bytes", truncate(c.Status, 64))
	}
	for k := range c.Tags {
		if k == "" {
			return errorf(p+".tags", "a tag key must not be empty")
		}
	}
	return nil
}

// Validate checks a rejection notice.
func (r Rejected) Validate() error {
	switch {
	case r.Reason == "":
		return errorf("reason", "must not be empty")
	case len(r.Original) > MaxOriginal:
		return errorf("original", "is %d bytes long, over the limit of %d; use Reject to cut it", len(r.Original), MaxOriginal)
	case r.Instance == "":
		return errorf("instance", "must not be empty")
	case r.At.IsZero():
		return errorf("at", "must be set")
	}
	return nil
}

// Reject describes input that could not be used: the subject it came on,
// the reason (with Field set when err is an *Error), and the body cut to
// MaxOriginal bytes on a character boundary, invalid UTF-8 replaced, so
// the notice is always valid JSON text.
func Reject(subject string, body []byte, err error, instance string, at time.Time) Rejected {
	r := Rejected{Subject: subject, Instance: instance, At: at.UTC()}
	if err != nil {
		r.Reason = err.Error()
	}
	var ee *Error
	if errors.As(err, &ee) {
		r.Field = ee.Field
	}
	if len(body) > MaxOriginal {
		body, r.Truncated = cutUTF8(body, MaxOriginal), true
	}
	r.Original = strings.ToValidUTF8(string(body), "\uFFFD")
	if len(r.Original) > MaxOriginal { // replacement characters are longer than the bytes they replace
		r.Original, r.Truncated = truncateRaw(r.Original, MaxOriginal), true
	}
	return r
}

func (t TriggerRef) validate(prefix string) *Error {
	switch {
	case t.ID == "":
		return errorf(prefix+".id", "must not be empty")
	case t.Type == "":
		return errorf(prefix+".type", "must not be empty")
	case t.Source == "":
		return errorf(prefix+".source", "must not be empty")
	}
	return nil
}

func checkPolicies(field string, policies []string) *Error {
	if len(policies) == 0 {
		return errorf(field, "must name at least one policy")
	}
	for i, p := range policies {
		if p == "" {
			return errorf(field+"["+strconv.Itoa(i)+"]", "must not be empty")
		}
	}
	return nil
}

func outcomeList() string {
	names := make([]string, len(cloud.Outcomes))
	for i, o := range cloud.Outcomes {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}

// cutUTF8 cuts b to n bytes, less the start of a character the cut would
// split. It backs off over at most utf8.UTFMax-1 bytes: a longer run of
// bytes that are not a character start is invalid UTF-8, which the caller
// replaces, and walking back over it would drop the text before it too.
func cutUTF8(b []byte, n int) []byte {
	for i := n - 1; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:n]) {
				n = i
			}
			break
		}
	}
	return b[:n]
}

func truncateRaw(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
