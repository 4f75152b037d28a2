package event

import (
	"maps"
	"math"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Formats of Alibaba Cloud identifiers.
var (
	// regionRe matches region ids: a lowercase geography prefix and one
	// to five hyphen-separated lowercase alphanumeric parts. It admits the
	// public regions (cn-hangzhou, ap-southeast-1, us-west-1, me-central-1),
	// the finance and government clouds (cn-shanghai-finance-1,
	// cn-north-2-gov-1) and internal ones such as cn-shanghai-et15-b01,
	// without a list that would go stale as regions open.
	regionRe = regexp.MustCompile(`^[a-z]{2,8}(-[a-z0-9]{1,16}){1,5}$`)

	// imageIDRe matches custom image ids, the only kind a copy can have:
	// "m-" and lowercase alphanumerics. Current ids have 20 after the
	// prefix (m-bp1g6zv0ce8oghu7k2tq, m-2zeggz4i4n2z510ajcvw); older ones
	// are shorter (m-282dzntc7). The "***" of documentation examples is a
	// mask, never a real id, and is refused.
	imageIDRe = regexp.MustCompile(`^m-[a-z0-9]{4,40}$`)

	// resourceGroupRe matches resource group ids such as rg-acfmxazb4ph6aiy.
	resourceGroupRe = regexp.MustCompile(`^rg-[a-z0-9]{4,40}$`)

	// currencyRe is an ISO 4217 code (CNY, USD).
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Limits on data fields, in bytes unless said otherwise.
const (
	maxNameLen   = 256  // budget, incident, requested_by
	maxReasonLen = 1024 // free-text reasons
	maxImageName = 128  // ECS limit on image names
	maxTags      = 64
	maxTagRunes  = 128 // ECS limit on tag keys and values, in characters
	maxSizeGB    = 1 << 20
)

func checkRegion(field, s string, required bool) *Error {
	if s == "" {
		return requiredEmpty(field, required)
	}
	if len(s) > 64 || !regionRe.MatchString(s) {
		return errorf(field, "%q is not a region id: want lowercase letters, digits and hyphens like cn-hangzhou or ap-southeast-1", truncate(s, 64))
	}
	return nil
}

func checkImageID(field, s string, required bool) *Error {
	if s == "" {
		return requiredEmpty(field, required)
	}
	if !imageIDRe.MatchString(s) {
		return errorf(field, "%q is not a custom image id: want m- followed by 4-40 lowercase letters or digits", truncate(s, 64))
	}
	return nil
}

func checkResourceGroup(field, s string) *Error {
	if s != "" && !resourceGroupRe.MatchString(s) {
		return errorf(field, "%q is not a resource group id: want rg- followed by 4-40 lowercase letters or digits", truncate(s, 64))
	}
	return nil
}

func checkField(field, s string, maxLen int, required bool) *Error {
	if s == "" {
		return requiredEmpty(field, required)
	}
	return checkText(field, s, maxLen)
}

func requiredEmpty(field string, required bool) *Error {
	if required {
		return errorf(field, "must not be empty")
	}
	return nil
}

func checkTags(field string, tags map[string]string) *Error {
	if len(tags) > maxTags {
		return errorf(field, "has %d tags, over the limit of %d", len(tags), maxTags)
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) { // sorted: the same input always gives the same error
		v := tags[k]
		p := joinPath(field, k)
		if k == "" {
			return errorf(field, "has an empty tag key")
		}
		if err := checkText(p, k, 4*maxTagRunes); err != nil {
			return err
		}
		if n := utf8.RuneCountInString(k); n > maxTagRunes {
			return errorf(p, "tag key is %d characters long, over the limit of %d", n, maxTagRunes)
		}
		if err := checkText(p, v, 4*maxTagRunes); err != nil {
			return err
		}
		if n := utf8.RuneCountInString(v); n > maxTagRunes {
			return errorf(p, "tag value is %d characters long, over the limit of %d", n, maxTagRunes)
		}
	}
	return nil
}

func checkFinite(field string, f float64) *Error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return errorf(field, "must be a finite number")
	}
	return nil
}

// reader pulls typed fields out of a decoded data object. It keeps the
// first error and turns later calls into no-ops, so a payload is read in
// one straight block and checked once at the end. It checks JSON types and
// presence only; formats are Validate's job, so that payloads built in Go
// obey the same rules.
type reader struct {
	m    map[string]any
	path string
	err  *Error
}

// get returns the value of key; a JSON null counts as absent, because
// many producers write null for "not set".
func (r *reader) get(key string, required bool) (any, string, bool) {
	p := joinPath(r.path, key)
	if r.err != nil {
		return nil, p, false
	}
	v := r.m[key]
	if v == nil {
		if required {
			r.err = errorf(p, "required field is missing")
		}
		return nil, p, false
	}
	return v, p, true
}

func (r *reader) str(key string, required bool) string {
	v, p, ok := r.get(key, required)
	if !ok {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		r.err = errorf(p, "must be a string, got %s", jsonKind(v))
	}
	return s
}

func (r *reader) number(key string, required bool) float64 {
	v, p, ok := r.get(key, required)
	if !ok {
		return 0
	}
	f, isNum := v.(float64)
	if !isNum {
		r.err = errorf(p, "must be a number, got %s", jsonKind(v))
	}
	return f
}

// integer reads a whole number in [lo, hi]; the range is checked here
// too because a float64 outside int's range has no int to hand to
// Validate.
func (r *reader) integer(key string, lo, hi int) int {
	f := r.number(key, false)
	switch {
	case r.err != nil:
		return 0
	case f < float64(lo) || f > float64(hi):
		r.err = errorf(joinPath(r.path, key), "must be between %d and %d, got %v", lo, hi, f)
		return 0
	case f != math.Trunc(f):
		r.err = errorf(joinPath(r.path, key), "must be a whole number, got %v", f)
		return 0
	}
	return int(f)
}

func (r *reader) time(key string) time.Time {
	s := r.str(key, false)
	if s == "" || r.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		r.err = errorf(joinPath(r.path, key), "%q is not an RFC 3339 timestamp", truncate(s, 64))
	}
	return t
}

func (r *reader) object(key string) *reader {
	v, p, ok := r.get(key, false)
	sub := &reader{path: p}
	if !ok {
		sub.err = r.err
		return sub
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		r.err = errorf(p, "must be an object, got %s", jsonKind(v))
		sub.err = r.err
		return sub
	}
	sub.m = m
	return sub
}

func (r *reader) tags(key string) map[string]string {
	sub := r.object(key)
	// An empty object reads as nil, as an absent one does: the two must
	// not differ, since the Go types drop empty maps when written.
	if len(sub.m) == 0 || r.err != nil {
		return nil
	}
	tags := make(map[string]string, len(sub.m))
	for _, k := range slices.Sorted(maps.Keys(sub.m)) {
		v := sub.m[k]
		s, ok := v.(string)
		if !ok {
			r.err = errorf(joinPath(sub.path, k), "tag value must be a string, got %s", jsonKind(v))
			return nil
		}
		tags[k] = s
	}
	return tags
}

// adopt moves a sub-reader's error into r.
func (r *reader) adopt(sub *reader) {
	if r.err == nil {
		r.err = sub.err
	}
}
