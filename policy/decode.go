package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/copyguard/copyguard/policy/internal/query"
	"github.com/copyguard/copyguard/policy/suggest"
)

// policyKeys are the keys a policy may have, in the order the README
// documents them.
var policyKeys = []string{"name", "description", "on", "sources", "when", "match", "action",
	"max_cancels", "max_rate", "dry_run", "active_for", "released_by", "enabled"}

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// A trigger type becomes a NATS subject suffix (copyguard.trigger.<type>),
	// so it is dot-separated tokens without wildcards or spaces.
	typePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	yamlLine    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

const maxNameLen = 100

// parsedPolicy is a policy plus what the set-level checks need to point
// at its name.
type parsedPolicy struct {
	*Policy
	nameLine, nameCol int
	// valid is false when the policy had problems; it is still returned
	// when named, so that duplicate names are reported too.
	valid bool
}

// fileParser turns one source into policies, collecting problems rather
// than stopping at the first.
type fileParser struct {
	file     string
	txt      *text
	env      *query.Envs
	problems []Problem
}

// at records a problem located at a node.
func (fp *fileParser) at(n *yaml.Node, pc *policyCtx, field, format string, args ...any) {
	p := Problem{File: fp.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	if pc != nil {
		p.Policy, p.Index = pc.name, pc.index
		if p.Policy != "" {
			p.Index = 0
		}
	}
	fp.problems = append(fp.problems, p)
}

func (fp *fileParser) parse(src Source) (out []*parsedPolicy) {
	defer func() {
		// yaml.v3 has panicked on hostile input in the past; a policy file
		// must never take the worker down with it.
		if r := recover(); r != nil {
			out = nil
			fp.problems = append(fp.problems, Problem{File: fp.file, Message: fmt.Sprintf("cannot parse: %v", r)})
		}
	}()
	fp.txt = newText(src.Data)
	dec := yaml.NewDecoder(bytes.NewReader(src.Data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			fp.yamlError(err)
			return out
		}
		out = append(out, fp.document(&doc, src.Embedded)...)
	}
}

// yamlError turns a yaml.v3 syntax error into a located problem.
func (fp *fileParser) yamlError(err error) {
	line, msg := splitYAMLError(err)
	if line > 0 {
		line = problemLine(fp.txt, line, msg)
	}
	p := Problem{File: fp.file, Line: line, Message: "yaml: " + msg}
	if msg == yamlAliasMsg {
		// `on: [*]` reads as an alias with no name: the commonest way to
		// meet this message, and one the message itself does not explain.
		if col := bareStar(fp.txt, line); col > 0 {
			p.Col = col
			p.Message += ` (an unquoted * starts a YAML alias; quote it: on: ["*"])`
		}
	}
	fp.problems = append(fp.problems, p)
}

// yamlAliasMsg is what yaml.v3 says about an alias without a name.
const yamlAliasMsg = "did not find expected alphabetic or numeric character"

// bareStar returns the 1-based column of a "*" on line that stands where
// a value starts and is not followed by an anchor name, or 0.
func bareStar(t *text, line int) int {
	rs := t.line(line)
	for i, r := range rs {
		if r != '*' {
			continue
		}
		prev := ' '
		for j := i - 1; j >= 0; j-- {
			if rs[j] != ' ' && rs[j] != '\t' {
				prev = rs[j]
				break
			}
		}
		next := ' '
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		if strings.ContainsRune(" [,:-", prev) && !unicode.IsLetter(next) && !unicode.IsDigit(next) && next != '_' && next != '-' {
			return i + 1
		}
	}
	return 0
}

func splitYAMLError(err error) (int, string) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// problemLine finds the line a YAML syntax error is really on. yaml.v3
// reports the line where the enclosing block started (line 1 for a bad
// key anywhere in the file), so this looks for the shortest prefix of the
// file, cut at a line end, that fails with the same message; a binary
// search keeps it to a few parses. If nothing fits, yaml's line stands.
func problemLine(t *text, reported int, msg string) int {
	fails := func(n int) bool { // does the prefix of n lines fail with msg?
		var doc yaml.Node
		err := yaml.Unmarshal(t.prefix(n), &doc)
		if err == nil {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	lo, hi := reported, t.lines() // the answer is in [lo, hi]
	if lo > hi {
		return min(reported, hi)
	}
	if !fails(hi) {
		return reported
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func (fp *fileParser) document(doc *yaml.Node, embedded bool) []*parsedPolicy {
	if len(doc.Content) == 0 {
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		fp.at(root, nil, "", "top level must be a mapping with a policies key")
		return nil
	}
	var list *yaml.Node
	misspelt := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		switch {
		case k.Value == "policies":
			list = v
		case !embedded:
			hint := didYouMean(k.Value, []string{"policies"})
			misspelt = misspelt || hint != ""
			if hint == "" {
				hint = "; a policy file has only a policies key"
			}
			fp.at(k, nil, "", "unknown top-level key %q%s", k.Value, hint)
		}
	}
	if list == nil {
		if !embedded && !misspelt {
			fp.at(root, nil, "", "missing policies key")
		}
		return nil
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		fp.at(list, nil, "policies", "must be a list of policies")
		return nil
	}
	var out []*parsedPolicy
	for i, item := range list.Content {
		if p := fp.policy(resolve(item), i+1); p != nil {
			out = append(out, p)
		}
	}
	return out
}

// policyCtx names the policy being decoded in problems.
type policyCtx struct {
	name  string
	index int
}

func (fp *fileParser) policy(n *yaml.Node, index int) *parsedPolicy {
	pc := &policyCtx{index: index}
	if n.Kind != yaml.MappingNode {
		fp.at(n, pc, "", "must be a mapping (name, on, match, action, ...)")
		return nil
	}
	fields := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if _, dup := keys[k.Value]; !dup {
			fields[k.Value], keys[k.Value] = resolve(n.Content[i+1]), k
		}
	}
	p := &parsedPolicy{Policy: &Policy{File: fp.file, Line: n.Line, Enabled: true}}
	ok := fp.name(fields["name"], n, pc, p, closestKeyTo(n, "name"))
	seen := map[string]int{}
	// A misspelt key is reported once, as unknown with a suggestion, not
	// a second time as the key it was meant to be being missing.
	misspelt := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		switch first, dup := seen[k.Value]; {
		case dup:
			fp.at(k, pc, k.Value, "duplicate key; first set at line %d", first)
			ok = false
		case !knownKey(k.Value):
			best := closest(k.Value, policyKeys)
			if best != "" {
				misspelt[best] = true
			}
			fp.at(k, pc, "", "unknown key %q%s", k.Value, didYouMean(k.Value, policyKeys))
			ok = false
		}
		if _, dup := seen[k.Value]; !dup {
			seen[k.Value] = k.Line
		}
	}
	d := &fieldDecoder{fp: fp, pc: pc, fields: fields, keys: keys, node: n, misspelt: misspelt, ok: ok}
	d.decode(p.Policy)
	p.valid = d.ok
	if !p.valid && p.Name == "" {
		return nil
	}
	return p
}

func knownKey(k string) bool {
	for _, pk := range policyKeys {
		if k == pk {
			return true
		}
	}
	return false
}

// name decodes the name first, so that every later problem can say which
// policy it is about.
func (fp *fileParser) name(v, policyNode *yaml.Node, pc *policyCtx, p *parsedPolicy, misspelt bool) bool {
	if v == nil || isNull(v) {
		if !misspelt {
			fp.at(policyNode, pc, "name", "missing; every policy needs a unique name")
		}
		return false
	}
	if v.Kind != yaml.ScalarNode {
		fp.at(v, pc, "name", "must be a string")
		return false
	}
	switch {
	case v.Value == "":
		fp.at(v, pc, "name", "must not be empty")
	case len(v.Value) > maxNameLen:
		fp.at(v, pc, "name", "longer than %d characters", maxNameLen)
	case !namePattern.MatchString(v.Value):
		fp.at(v, pc, "name", "%q: use letters, digits, '.', '_' and '-', starting with a letter or digit", v.Value)
	default:
		pc.name = v.Value
		p.Name, p.nameLine, p.nameCol = v.Value, v.Line, v.Column
		return true
	}
	return false
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// didYouMean returns a " (did you mean "x"?)" hint for a near miss, or "".
func didYouMean(got string, choices []string) string {
	if best := closest(got, choices); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// closest returns the choice within a small edit distance of got, or "".
func closest(got string, choices []string) string { return suggest.Closest(got, choices) }

// closestKeyTo reports whether the mapping has an unknown key that is a
// near miss of want.
func closestKeyTo(n *yaml.Node, want string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !knownKey(k) && closest(k, policyKeys) == want {
			return true
		}
	}
	return false
}
