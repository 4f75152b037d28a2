package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// fieldDecoder decodes and checks the fields of one policy mapping. Each
// method records its own problems and clears ok, so one pass reports every
// field that is wrong.
type fieldDecoder struct {
	fp     *fileParser
	pc     *policyCtx
	fields map[string]*yaml.Node // key → value
	keys   map[string]*yaml.Node // key → key node
	node   *yaml.Node            // the policy mapping, for missing keys
	// misspelt holds the keys an unknown key was a near miss of; they are
	// not reported missing as well.
	misspelt map[string]bool
	ok       bool
}

func (d *fieldDecoder) fail(n *yaml.Node, field, format string, args ...any) {
	d.fp.at(n, d.pc, field, format, args...)
	d.ok = false
}

// missing reports a required key as missing, unless a misspelling of it
// was already reported.
func (d *fieldDecoder) missing(field, format string, args ...any) {
	if d.misspelt[field] {
		d.ok = false
		return
	}
	d.fail(d.node, field, format, args...)
}

func (d *fieldDecoder) decode(p *Policy) {
	p.Description = d.str("description")
	p.On = d.on()
	p.Sources = d.sources()
	p.Action = d.action()
	p.MaxCancels = d.maxCancels()
	p.MaxRate = d.maxRate()
	p.DryRun = d.boolean("dry_run", false)
	p.Enabled = d.boolean("enabled", true)
	p.ActiveFor = d.activeFor()
	p.ReleasedBy = d.releasedBy(p.ActiveFor)
	if p.Action == ActionProtect {
		// sources too: a veto must not depend on who sent the trigger.
		for _, k := range []string{"sources", "max_cancels", "max_rate", "dry_run", "active_for"} {
			if d.fields[k] != nil {
				d.fail(d.keys[k], k, "only cancel policies take %s; a protect policy always vetoes", k)
			}
		}
	}
	d.expressions(p)
}

// present returns the value of an optional key, treating `key:` with no
// value as absent.
func (d *fieldDecoder) present(key string) *yaml.Node {
	v := d.fields[key]
	if v == nil || isNull(v) {
		return nil
	}
	return v
}

func (d *fieldDecoder) scalar(key string) *yaml.Node {
	v := d.present(key)
	if v != nil && v.Kind != yaml.ScalarNode {
		d.fail(v, key, "must be a single value, not a %s", kindName(v))
		return nil
	}
	return v
}

func (d *fieldDecoder) str(key string) string {
	if v := d.scalar(key); v != nil {
		return v.Value
	}
	return ""
}

func (d *fieldDecoder) on() []string {
	v := d.present("on")
	if v == nil {
		d.missing("on", "missing; list the trigger types, or [\"*\"] for all")
		return nil
	}
	return d.stringList(v, "on", "empty; list at least one trigger type, or [\"*\"] for all", "a trigger type",
		func(s string) string { return checkType(s, true) })
}

// stringList decodes a scalar or a list of scalars for key: each item is
// checked (check returns what is wrong, or ""), and every problem is
// reported at its item; an empty list is reported with empty.
func (d *fieldDecoder) stringList(v *yaml.Node, key, empty, what string, check func(string) string) []string {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
		if len(items) == 0 {
			d.fail(v, key, "%s", empty)
			return nil
		}
	}
	var out []string
	for _, it := range items {
		it = resolve(it)
		if it.Kind != yaml.ScalarNode {
			d.fail(it, key, "must be %s, not a %s", what, kindName(it))
			continue
		}
		if msg := check(it.Value); msg != "" {
			d.fail(it, key, "%s", msg)
			continue
		}
		out = append(out, it.Value)
	}
	return out
}

// checkType explains what is wrong with a trigger type, or returns "".
func checkType(t string, wildcard bool) string {
	switch {
	case t == Wildcard && wildcard:
		return ""
	case t == Wildcard:
		return `"*" is not allowed here; name one trigger type`
	case !typePattern.MatchString(t):
		return fmt.Sprintf("invalid trigger type %q: use dot-separated words of letters, digits, '_' and '-'", t)
	}
	builtin := BuiltinTypes()
	if slices.Contains(builtin, t) {
		return ""
	}
	// A typo in `on` makes a policy silently never fire, the worst way to
	// fail; a type this close to a built-in one is almost surely a typo.
	if s := didYouMean(t, builtin); s != "" {
		return fmt.Sprintf("unknown trigger type %q%s", t, s)
	}
	return ""
}

func (d *fieldDecoder) action() Action {
	v := d.scalar("action")
	if v == nil {
		if d.fields["action"] == nil || isNull(d.fields["action"]) {
			d.missing("action", "missing; want cancel or protect")
		}
		return ActionNone
	}
	switch v.Value {
	case "cancel":
		return ActionCancel
	case "protect":
		return ActionProtect
	}
	d.fail(v, "action", "unknown action %q%s; want cancel or protect", v.Value, didYouMean(v.Value, []string{"cancel", "protect"}))
	return ActionNone
}

func (d *fieldDecoder) maxCancels() int {
	v := d.scalar("max_cancels")
	if v == nil {
		return 0
	}
	n, err := strconv.Atoi(v.Value)
	if v.Tag != "!!int" || err != nil {
		d.fail(v, "max_cancels", "must be a whole number, got %q", v.Value)
		return 0
	}
	if n < 0 {
		d.fail(v, "max_cancels", "must not be negative (0 means no limit)")
		return 0
	}
	return n
}

func (d *fieldDecoder) maxRate() Rate {
	v := d.scalar("max_rate")
	if v == nil {
		return Rate{}
	}
	if v.Tag != "!!str" {
		d.fail(v, "max_rate", "want a string N/DURATION, e.g. \"100/10m\", got %q", v.Value)
		return Rate{}
	}
	r, err := parseRate(v.Value)
	if err != nil {
		d.fail(v, "max_rate", "%v", err)
		return Rate{}
	}
	return r
}

func (d *fieldDecoder) boolean(key string, def bool) bool {
	v := d.scalar(key)
	if v == nil {
		return def
	}
	if v.Tag != "!!bool" {
		d.fail(v, key, "must be true or false, got %q", v.Value)
		return def
	}
	return v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
}

func (d *fieldDecoder) activeFor() time.Duration {
	v := d.scalar("active_for")
	if v == nil {
		return 0
	}
	dur, err := parseDuration(v.Value)
	if err != nil {
		d.fail(v, "active_for", "%v", err)
		return 0
	}
	return dur
}

func (d *fieldDecoder) releasedBy(activeFor time.Duration) string {
	v := d.scalar("released_by")
	if v == nil {
		return ""
	}
	if msg := checkType(v.Value, false); msg != "" {
		d.fail(v, "released_by", "%s", msg)
		return ""
	}
	// An active_for that is there but invalid was reported already; one
	// left empty (`active_for:`) is absent, as for every optional key.
	if activeFor == 0 && d.present("active_for") == nil {
		d.fail(v, "released_by", "needs active_for: only a condition can be released")
		return ""
	}
	return v.Value
}

// parseDuration accepts Go durations ("90m", "6h") and a leading number of
// days ("7d", "1d12h"), and requires a positive value.
func parseDuration(s string) (time.Duration, error) {
	orig := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 90m, 6h or 7d", orig)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 90m, 6h or 7d", orig)
		}
	}
	if total := days + rest; total > 0 {
		return total, nil
	}
	return 0, fmt.Errorf("must be longer than zero, got %q", orig)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	}
	return "value"
}
