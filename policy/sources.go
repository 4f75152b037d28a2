package policy

import (
	"fmt"
	"strings"
	"unicode"
)

// maxSourceLen bounds one entry of `sources`; CloudEvents sources are URIs
// or short names, far below it.
const maxSourceLen = 256

// Accepts reports whether a trigger from source may fire the policy: true
// when the policy has no `sources`, or one entry matches. An entry is an
// exact string, or a pattern where each `*` stands for any run of
// characters (`/` included: sources are often URIs), e.g.
// "urn:budget:*" or "https://ops.example.com/*".
func (p *Policy) Accepts(source string) bool {
	if len(p.Sources) == 0 {
		return true
	}
	for _, s := range p.Sources {
		if globMatch(s, source) {
			return true
		}
	}
	return false
}

// globMatch matches s against a pattern whose only special character is
// `*`. It runs in O(len(pattern)·len(s)) at worst, without backtracking
// blow-up: the classic greedy algorithm that remembers the last star.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// sources decodes `sources`: a list of CloudEvents source values (or
// `*` patterns) the policy accepts triggers from.
func (d *fieldDecoder) sources() []string {
	v := d.present("sources")
	if v == nil {
		if d.fields["sources"] != nil {
			// `sources:` with nothing after it would read as "any source",
			// the opposite of what someone who typed the key meant.
			d.fail(d.fields["sources"], "sources", "empty; list the trigger sources allowed, or leave sources out to accept every source")
		}
		return nil
	}
	return d.stringList(v, "sources", "empty; list the trigger sources allowed, or leave sources out to accept every source",
		"a trigger source (a CloudEvents source value)", checkSource)
}

// checkSource explains what is wrong with one `sources` entry, or
// returns "".
func checkSource(s string) string {
	switch {
	case s == "":
		return "empty source; CloudEvents sources are never empty"
	case len(s) > maxSourceLen:
		return fmt.Sprintf("longer than %d characters", maxSourceLen)
	case strings.Trim(s, "*") == "":
		return fmt.Sprintf("%q accepts every source; leave sources out instead", s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Sprintf("invalid source %q: no spaces or control characters", s)
		}
	}
	return ""
}
