package policytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/policy"
)

// File is a decoded policy test file.
type File struct {
	// Load lists policy files or directories, relative to the test file.
	Load []string `yaml:"load"`
	// Policies holds inline policies, in the policy file format; they are
	// compiled by the policy package straight from this file, so problems
	// point at the right lines.
	Policies yaml.Node `yaml:"policies"`
	Cases    []Case    `yaml:"cases"`
}

// Case is one test case: a trigger against some copies.
type Case struct {
	Name    string      `yaml:"name"`
	Trigger TriggerSpec `yaml:"trigger"`
	Now     time.Time   `yaml:"now"`
	Only    []string    `yaml:"only"`
	Copies  []CopySpec  `yaml:"copies"`
	Expect  yaml.Node   `yaml:"expect"`
	Fired   *[]string   `yaml:"fired"`
	Errors  *int        `yaml:"errors"`
	Line    int         `yaml:"-"`
	expect  []expectation
}

// TriggerSpec is the trigger of a case. Data goes through JSON, so numbers
// are float64 exactly as they are for a real trigger.
type TriggerSpec struct {
	ID      string         `yaml:"id"`
	Type    string         `yaml:"type"`
	Source  string         `yaml:"source"`
	Subject string         `yaml:"subject"`
	Time    time.Time      `yaml:"time"`
	Data    map[string]any `yaml:"data"`
}

// CopySpec is a copy in cloud.Copy's snake_case fields, plus Count, which
// makes that many copies named <image_id>-1 ... <image_id>-N.
type CopySpec struct {
	ImageID         string            `yaml:"image_id"`
	Region          string            `yaml:"region"`
	SourceImageID   string            `yaml:"source_image_id"`
	SourceRegion    string            `yaml:"source_region"`
	Status          string            `yaml:"status"`
	Progress        int               `yaml:"progress"`
	SizeGB          int               `yaml:"size_gb"`
	Tags            map[string]string `yaml:"tags"`
	StartedAt       time.Time         `yaml:"started_at"`
	Name            string            `yaml:"name"`
	ResourceGroupID string            `yaml:"resource_group_id"`
	Count           int               `yaml:"count"`
}

// expectation is one entry of a case's expect mapping.
type expectation struct {
	key      string // image_id, region/image_id, or a path.Match pattern of either
	action   policy.Action
	policies []string // nil: not checked
	vetoed   []string // nil: not checked
	used     bool
}

// defaultNow is the evaluation time of a case that names neither now nor
// a trigger time, so that results never depend on the clock.
var defaultNow = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// readFile decodes a test file strictly: an unknown key is an error, not
// a silently ignored expectation.
func readFile(name string) (*File, []byte, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file (or only comments) is a file without cases, not a
	// decoding error ("EOF").
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%s", yamlMessage(err))
	}
	// Cases in a second document would never run, and the file would
	// pass without them.
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case errors.Is(err, io.EOF):
	case err == nil && (len(more.Content) == 0 || isNull(more.Content[0])):
		// A trailing `---` starts an empty document.
	case err != nil:
		return nil, nil, fmt.Errorf("%s", yamlMessage(err))
	default:
		line := more.Line
		if len(more.Content) > 0 {
			line = more.Content[0].Line
		}
		return nil, nil, fmt.Errorf("line %d: a test file holds one YAML document; found another", line)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		setCaseLines(&root, f.Cases)
	}
	for i := range f.Cases {
		c := &f.Cases[i]
		if c.Name == "" {
			c.Name = fmt.Sprintf("case %d", i+1)
		}
		if c.Trigger.Type == "" {
			return nil, nil, fmt.Errorf("line %d: case %q: trigger.type is required", c.Line, c.Name)
		}
		if c.expect, err = parseExpect(&c.Expect); err != nil {
			return nil, nil, fmt.Errorf("line %d: case %q: expect: %v", c.Line, c.Name, err)
		}
		for _, cp := range c.Copies {
			if cp.ImageID == "" || cp.Region == "" {
				return nil, nil, fmt.Errorf("line %d: case %q: every copy needs image_id and region", c.Line, c.Name)
			}
		}
	}
	if len(f.Cases) == 0 {
		return nil, nil, fmt.Errorf("no cases")
	}
	return &f, data, nil
}

// setCaseLines records where each case starts, for messages.
func setCaseLines(root *yaml.Node, cases []Case) {
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "cases" {
			continue
		}
		for j, n := range m.Content[i+1].Content {
			if j < len(cases) {
				cases[j].Line = n.Line
			}
		}
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func parseExpect(n *yaml.Node) ([]expectation, error) {
	if n.Kind == 0 || isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("must map copies (image_id or region/image_id) to actions")
	}
	var out []expectation
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, err := path.Match(k.Value, ""); err != nil {
			return nil, fmt.Errorf("line %d: bad pattern %q", k.Line, k.Value)
		}
		e := expectation{key: k.Value}
		var actionName string
		switch v.Kind {
		case yaml.ScalarNode:
			actionName = v.Value
		case yaml.MappingNode:
			var spec struct {
				Action   string    `yaml:"action"`
				Policies *[]string `yaml:"policies"`
				Vetoed   *[]string `yaml:"vetoed"`
			}
			if err := decodeStrict(v, &spec, "action", "policies", "vetoed"); err != nil {
				return nil, err
			}
			actionName = spec.Action
			if spec.Policies != nil {
				e.policies = sorted(*spec.Policies)
			}
			if spec.Vetoed != nil {
				e.vetoed = sorted(*spec.Vetoed)
			}
		default:
			return nil, fmt.Errorf("line %d: want an action or {action, policies, vetoed}", v.Line)
		}
		a, err := policy.ParseAction(actionName)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", v.Line, err)
		}
		e.action = a
		out = append(out, e)
	}
	return out, nil
}

// decodeStrict decodes a mapping node rejecting keys other than known,
// which Node.Decode does not do by itself. Node.Decode, unlike decoding a
// re-marshalled copy, keeps the file's line numbers.
func decodeStrict(n *yaml.Node, v any, known ...string) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(known, k.Value) {
			return fmt.Errorf("line %d: field %s not found", k.Line, k.Value)
		}
	}
	if err := n.Decode(v); err != nil {
		return fmt.Errorf("%s", yamlMessage(err))
	}
	return nil
}

// yamlMessage shortens yaml.v3's strict-decoding messages, which name Go
// types ("field x not found in type policytest.Case").
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	parts := strings.Split(msg, "\n  ")
	for i, p := range parts {
		if j := strings.Index(p, " in type "); j >= 0 {
			p = p[:j]
		}
		if j := strings.LastIndex(p, " into "); j >= 0 && strings.HasPrefix(p, "line ") {
			p = p[:j] + ", want " + yamlKind(p[j+len(" into "):])
		}
		parts[i] = p
	}
	return strings.Join(parts, "; ")
}

// yamlKind names the YAML a Go type decodes from.
func yamlKind(goType string) string {
	t := strings.TrimLeft(goType, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "policytest."):
		return "a mapping"
	case t == "time.Time":
		return "a timestamp"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	}
	return "a string"
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

// copies expands the case's copy specs.
func (c *Case) copies() []cloud.Copy {
	var out []cloud.Copy
	for _, s := range c.Copies {
		base := cloud.Copy{
			ImageID: s.ImageID, Region: s.Region, SourceImageID: s.SourceImageID, SourceRegion: s.SourceRegion,
			Status: s.Status, Progress: s.Progress, SizeGB: s.SizeGB, Tags: s.Tags, StartedAt: s.StartedAt,
			Name: s.Name, ResourceGroupID: s.ResourceGroupID,
		}
		if base.Status == "" {
			base.Status = cloud.StatusCreating
		}
		if s.Count <= 0 {
			out = append(out, base)
			continue
		}
		for i := 1; i <= s.Count; i++ {
			c := base
			c.ImageID = fmt.Sprintf("%s-%d", s.ImageID, i)
			out = append(out, c)
		}
	}
	return out
}

// trigger builds the policy.Trigger, passing data through JSON.
func (c *Case) trigger() (policy.Trigger, error) {
	t := policy.Trigger{ID: c.Trigger.ID, Type: c.Trigger.Type, Source: c.Trigger.Source,
		Subject: c.Trigger.Subject, Time: c.Trigger.Time}
	if t.ID == "" {
		t.ID = "test-" + strings.ReplaceAll(c.Name, " ", "-")
	}
	if t.Source == "" {
		t.Source = "copyguard-policy-test"
	}
	b, err := json.Marshal(c.Trigger.Data)
	if err != nil {
		return t, fmt.Errorf("trigger.data: %v", err)
	}
	if err := json.Unmarshal(b, &t.Data); err != nil {
		return t, fmt.Errorf("trigger.data: %v", err)
	}
	return t, nil
}

func (c *Case) now() time.Time {
	switch {
	case !c.Now.IsZero():
		return c.Now
	case !c.Trigger.Time.IsZero():
		return c.Trigger.Time
	}
	return defaultNow
}

// Find lists the test files in paths: a file is taken as given, a
// directory contributes its *_test.yaml and *_test.yml files (not those of
// subdirectories), sorted by name.
func Find(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, e := range entries {
			if !e.IsDir() && policy.IsTestFileName(e.Name()) {
				out = append(out, filepath.Join(p, e.Name()))
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: no policy test files (*_test.yaml)", p)
		}
	}
	return out, nil
}
