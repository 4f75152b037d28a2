package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
)

var update = flag.Bool("update", false, "rewrite the field tables of docs/events.md from the Go types")

// eventsDoc is the reference of every event copyguard reads or writes.
// TestEventsDoc keeps it honest; worker's TestEventsDocIDs checks the ids
// of its output examples.
const eventsDoc = "../docs/events.md"

// docTypes are the Go types whose fields docs/events.md lists, by the
// name its "<!-- fields: NAME -->" markers use. Input payloads say
// "required" for a field without omitempty (the decoders require exactly
// those, which the test checks on the examples); output payloads say
// "always" (encoding/json always writes it).
var docTypes = []struct {
	name  string
	typ   reflect.Type
	input bool
}{
	{"Event", reflect.TypeFor[event.Event](), true},
	{"BudgetExceeded", reflect.TypeFor[event.BudgetExceeded](), true},
	{"RegionQuarantined", reflect.TypeFor[event.RegionQuarantined](), true},
	{"RegionReleased", reflect.TypeFor[event.RegionReleased](), true},
	{"CancelRequested", reflect.TypeFor[event.CancelRequested](), true},
	{"CopyStarted", reflect.TypeFor[event.CopyStarted](), true},
	{"CopyFinished", reflect.TypeFor[event.CopyFinished](), true},
	{"Decision", reflect.TypeFor[event.Decision](), false},
	{"DecidedCopy", reflect.TypeFor[event.DecidedCopy](), false},
	{"EvalError", reflect.TypeFor[event.EvalError](), false},
	{"Result", reflect.TypeFor[event.Result](), false},
	{"Rejected", reflect.TypeFor[event.Rejected](), false},
	{"Audit", reflect.TypeFor[event.Audit](), false},
}

// payloadOf maps a CloudEvent type to the Go type of its data and the
// name of its field table.
var payloadOf = map[string]string{
	event.TypeBudgetExceeded:    "BudgetExceeded",
	event.TypeRegionQuarantined: "RegionQuarantined",
	event.TypeRegionReleased:    "RegionReleased",
	event.TypeCancelRequested:   "CancelRequested",
	event.TypeCopyStarted:       "CopyStarted",
	event.TypeCopyFinished:      "CopyFinished",
	event.TypeDecision:          "Decision",
	event.TypeResult:            "Result",
	event.TypeRejected:          "Rejected",
	event.TypeAudit:             "Audit",
}

func docType(name string) (reflect.Type, bool, bool) {
	for _, d := range docTypes {
		if d.name == name {
			return d.typ, d.input, true
		}
	}
	return nil, false, false
}

// row is one line of a field table: the first three cells come from the
// Go type, the last two are written by hand and kept by -update.
type row struct {
	field, typ, presence, constraints, meaning string
}

func (r row) String() string {
	return fmt.Sprintf("| `%s` | %s | %s | %s | %s |", r.field, r.typ, r.presence, r.constraints, r.meaning)
}

const tableHeader = "| field | type | presence | constraints | meaning |\n|---|---|---|---|---|\n"

// fieldRows lists t's JSON fields in declaration order. A struct field
// (not a list of structs) is written as its own row and then its fields
// as parent.child rows.
func fieldRows(t reflect.Type, input bool, prefix string) []row {
	var out []row
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		optional := slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
		presence := "always"
		switch {
		case input && optional:
			presence = "optional"
		case input:
			presence = "required"
		case optional:
			presence = "when set"
		}
		r := row{field: prefix + name, typ: jsonType(f.Type), presence: presence}
		out = append(out, r)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			out = append(out, fieldRows(f.Type, input, r.field+".")...)
		}
	}
	return out
}

// jsonType names the JSON type a Go type is written as.
func jsonType(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Time](), t == reflect.TypeFor[*time.Time]():
		return "timestamp"
	case t == reflect.TypeFor[json.RawMessage]():
		return "object"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Map:
		return "object of " + jsonType(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "array of " + t.Elem().Name()
		}
		return "array of " + jsonType(t.Elem())
	case reflect.Struct:
		return "object"
	}
	return t.String()
}

// section is a part of the doc introduced by a marker line.
type section struct {
	kind, arg  string // "fields" and a type name, "example" and a subject, "outcomes", "subjects"
	line       int    // of the marker, 1-based
	start, end int    // byte offsets of the body that follows the marker
}

var markerRE = regexp.MustCompile(`(?m)^<!-- (fields|example|outcomes|subjects)(?:: (\S+))? -->\n`)

// sections finds every marker and the body after it: a table (the lines
// that start with "|") or a fenced block.
func sections(doc []byte) []section {
	var out []section
	for _, m := range markerRE.FindAllSubmatchIndex(doc, -1) {
		s := section{kind: string(doc[m[2]:m[3]]), line: bytes.Count(doc[:m[0]], []byte("\n")) + 1, start: m[1]}
		if m[4] >= 0 {
			s.arg = string(doc[m[4]:m[5]])
		}
		rest := doc[m[1]:]
		if s.kind == "example" {
			end := 0
			if bytes.HasPrefix(rest, []byte("```")) {
				if i := bytes.Index(rest[3:], []byte("\n```")); i >= 0 {
					end = 3 + i + len("\n```\n")
				}
			}
			s.end = s.start + min(end, len(rest))
		} else {
			n := 0
			for _, l := range bytes.SplitAfter(rest, []byte("\n")) {
				if !bytes.HasPrefix(l, []byte("|")) {
					break
				}
				n += len(l)
			}
			s.end = s.start + n
		}
		out = append(out, s)
	}
	return out
}

// tableRows splits a Markdown table into rows of trimmed cells, header
// and separator left out. A "|" inside a cell must be written "\|".
func tableRows(table string) [][]string {
	var out [][]string
	lines := strings.Split(strings.TrimSpace(table), "\n")
	for _, l := range lines[min(2, len(lines)):] {
		l = strings.TrimSpace(l)
		l = strings.TrimSuffix(strings.TrimPrefix(l, "|"), "|")
		l = strings.ReplaceAll(l, `\|`, "\x00")
		var cells []string
		for c := range strings.SplitSeq(l, "|") {
			cells = append(cells, strings.ReplaceAll(strings.TrimSpace(c), "\x00", `\|`))
		}
		out = append(out, cells)
	}
	return out
}

func unquoteCell(s string) string { return strings.Trim(s, "`") }

// TestEventsDoc checks docs/events.md against the code:
//
//   - every field table lists the Go type's JSON fields, in order, with
//     their JSON type and presence (-update rewrites those three columns
//     and keeps the hand-written constraints and meaning);
//   - every example is a whole CloudEvent that the real decoder accepts on
//     the subject it is shown on, whose data holds no field the Go type
//     does not know; for inputs, dropping a required field makes the
//     decoder refuse it and dropping an optional one does not; outputs
//     pass their Validate, read back to the same JSON, and carry the
//     source, subject and time the worker writes;
//   - the outcomes table is cloud.Outcomes, in order, and the subjects
//     table is what event.Subjects builds.
func TestEventsDoc(t *testing.T) {
	doc, err := os.ReadFile(eventsDoc)
	if err != nil {
		t.Fatal(err)
	}
	secs := sections(doc)
	if *update {
		doc = rewriteTables(t, doc, secs)
		if err := os.WriteFile(eventsDoc, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		secs = sections(doc)
	}

	tables := map[string]bool{}
	examples := map[string]int{}
	for _, s := range secs {
		body := string(doc[s.start:s.end])
		where := fmt.Sprintf("%s:%d", eventsDoc, s.line)
		switch s.kind {
		case "fields":
			tables[s.arg] = true
			checkTable(t, where, s.arg, body)
		case "example":
			typ := checkExample(t, where, s.arg, body)
			examples[typ]++
		case "outcomes":
			checkOutcomes(t, where, body)
		case "subjects":
			checkSubjects(t, where, body)
		}
	}
	for _, d := range docTypes {
		if !tables[d.name] {
			t.Errorf("%s: no field table for %s (a line \"<!-- fields: %s -->\" followed by the table)", eventsDoc, d.name, d.name)
		}
	}
	for typ := range payloadOf {
		if examples[typ] == 0 {
			t.Errorf("%s: no example of a %s event (a line \"<!-- example: SUBJECT -->\" followed by a json block)", eventsDoc, typ)
		}
	}
	checkLimits(t, string(doc))
}

func checkTable(t *testing.T, where, name, body string) {
	t.Helper()
	typ, input, ok := docType(name)
	if !ok {
		t.Errorf("%s: no Go type %q is documented here; known: %v", where, name, docTypeNames())
		return
	}
	want := fieldRows(typ, input, "")
	have := tableRows(body)
	var diffs []string
	for i := range max(len(want), len(have)) {
		var w row
		var h []string
		if i < len(want) {
			w = want[i]
		}
		if i < len(have) {
			h = have[i]
		}
		if len(h) != 5 && h != nil {
			diffs = append(diffs, fmt.Sprintf("row %d has %d cells, want 5: %q", i+1, len(h), h))
			continue
		}
		switch {
		case h == nil:
			diffs = append(diffs, fmt.Sprintf("missing row for `%s` (%s, %s)", w.field, w.typ, w.presence))
		case w.field == "":
			diffs = append(diffs, fmt.Sprintf("row `%s`: %s has no such JSON field", unquoteCell(h[0]), name))
		case unquoteCell(h[0]) != w.field || h[1] != w.typ || h[2] != w.presence:
			diffs = append(diffs, fmt.Sprintf("row %d: doc says `%s` | %s | %s, code says `%s` | %s | %s",
				i+1, unquoteCell(h[0]), h[1], h[2], w.field, w.typ, w.presence))
		case h[4] == "":
			diffs = append(diffs, fmt.Sprintf("row `%s`: the meaning is empty", w.field))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%s: the table of %s does not match the Go type (go test ./event -run TestEventsDoc -update rewrites the first three columns):\n\t%s",
			where, name, strings.Join(diffs, "\n\t"))
	}
}

func docTypeNames() []string {
	var names []string
	for _, d := range docTypes {
		names = append(names, d.name)
	}
	return names
}

// rewriteTables regenerates every field table from its Go type, keeping
// the constraints and meaning of each field that is still there.
func rewriteTables(t *testing.T, doc []byte, secs []section) []byte {
	var out bytes.Buffer
	last := 0
	for _, s := range secs {
		if s.kind != "fields" {
			continue
		}
		typ, input, ok := docType(s.arg)
		if !ok {
			continue
		}
		kept := map[string][]string{}
		for _, h := range tableRows(string(doc[s.start:s.end])) {
			if len(h) == 5 {
				kept[unquoteCell(h[0])] = h
			}
		}
		out.Write(doc[last:s.start])
		out.WriteString(tableHeader)
		for _, r := range fieldRows(typ, input, "") {
			if h, ok := kept[r.field]; ok {
				r.constraints, r.meaning = h[3], h[4]
			}
			out.WriteString(r.String() + "\n")
		}
		last = s.end
	}
	out.Write(doc[last:])
	t.Logf("rewrote the field tables of %s", eventsDoc)
	return out.Bytes()
}

// exampleBody takes the JSON out of a fenced block.
func exampleBody(t *testing.T, where, body string) []byte {
	t.Helper()
	b, ok := strings.CutPrefix(body, "```json\n")
	if !ok {
		t.Errorf("%s: an example must be a ```json block right after its marker", where)
		return nil
	}
	return []byte(strings.TrimSuffix(strings.TrimSuffix(b, "\n"), "```"))
}

// checkExample checks one example and returns its CloudEvent type.
func checkExample(t *testing.T, where, subject, body string) string {
	t.Helper()
	b := exampleBody(t, where, body)
	if b == nil {
		return ""
	}
	ev, err := event.Decode(b, 0)
	if err != nil {
		t.Errorf("%s: the example does not decode: %v", where, err)
		return ""
	}
	name, ok := payloadOf[ev.Type]
	if !ok && strings.HasPrefix(subject, event.SubjectsFor("").Trigger("")) {
		// A user-defined trigger: its data is any object.
		if err := decodeInput(ev, subject); err != nil {
			t.Errorf("%s: the example is refused: %v", where, err)
		}
		return ev.Type
	}
	if !ok {
		t.Errorf("%s: type %q has no field table here; document it, or add it to payloadOf", where, ev.Type)
		return ev.Type
	}
	typ, input, _ := docType(name)
	// The decoders ignore unknown fields; a misspelt optional field in an
	// example would pass them unnoticed.
	dst := reflect.New(typ)
	dec := json.NewDecoder(bytes.NewReader(ev.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst.Interface()); err != nil {
		t.Errorf("%s: data of the %s example: %v", where, ev.Type, err)
		return ev.Type
	}
	if input {
		if err := decodeInput(ev, subject); err != nil {
			t.Errorf("%s: the example is refused: %v", where, err)
			return ev.Type
		}
		checkPresence(t, where, b, subject, name)
		return ev.Type
	}
	checkOutput(t, where, ev, subject, dst.Elem().Interface())
	return ev.Type
}

// decodeInput runs what the worker runs on an input message.
func decodeInput(ev *event.Event, subject string) error {
	if err := event.CheckSubject(ev, subject, ""); err != nil {
		return err
	}
	var err error
	switch ev.Type {
	case event.TypeCopyStarted:
		_, err = event.DecodeCopyStarted(ev)
	case event.TypeCopyFinished:
		_, err = event.DecodeCopyFinished(ev)
	default:
		_, _, err = event.DecodeTrigger(ev)
	}
	return err
}

// checkPresence drops each field of the example in turn: a required one
// must make the decoder refuse the event, naming the field; an optional
// one must not.
func checkPresence(t *testing.T, where string, body []byte, subject, name string) {
	t.Helper()
	var whole map[string]any
	if err := json.Unmarshal(body, &whole); err != nil {
		t.Fatal(err)
	}
	check := func(typeName, path string, r row, drop func(map[string]any)) {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		drop(m)
		b, _ := json.Marshal(m)
		ev, err := event.Decode(b, 0)
		if err == nil {
			err = decodeInput(ev, subject)
		}
		var ee *event.Error
		switch {
		case r.presence == "required" && err == nil:
			t.Errorf("%s: %s.%s is documented as required, but the decoder accepts the example without it", where, typeName, r.field)
		case r.presence == "required" && (!errors.As(err, &ee) || ee.Field != path):
			t.Errorf("%s: without the required %s, the decoder should blame %q, got %v", where, path, path, err)
		case r.presence == "optional" && err != nil:
			t.Errorf("%s: %s.%s is documented as optional, but without it the decoder refuses the example: %v", where, typeName, r.field, err)
		}
	}
	envType, _, _ := docType("Event")
	for _, r := range fieldRows(envType, true, "") {
		if _, ok := whole[r.field]; ok || r.presence == "required" {
			check("Event", r.field, r, func(m map[string]any) { delete(m, r.field) })
		}
	}
	typ, _, _ := docType(name)
	data, _ := whole["data"].(map[string]any)
	for _, r := range fieldRows(typ, true, "") {
		parts := strings.Split(r.field, ".")
		if _, ok := lookupPath(data, parts); !ok && r.presence == "optional" {
			continue // nothing to drop
		}
		check(name, "data."+r.field, r, func(m map[string]any) {
			d, _ := m["data"].(map[string]any)
			if parent, ok := lookupPath(d, parts[:len(parts)-1]); ok {
				if pm, ok := parent.(map[string]any); ok {
					delete(pm, parts[len(parts)-1])
				}
			}
		})
	}
}

func lookupPath(m map[string]any, parts []string) (any, bool) {
	var v any = m
	for _, p := range parts {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// checkOutput checks an output example as the worker (or the CLI, for
// audit events) writes it.
func checkOutput(t *testing.T, where string, ev *event.Event, subject string, data any) {
	t.Helper()
	prefix := event.SubjectsFor("")
	v, ok := data.(interface{ Validate() error })
	if !ok {
		t.Fatalf("%T has no Validate", data)
	}
	if err := v.Validate(); err != nil {
		t.Errorf("%s: the %s example fails Validate: %v", where, ev.Type, err)
	}
	// What the code writes for this value must be what the example shows:
	// no always-written field left out, no value the Go type cannot hold.
	again, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	var shown, written any
	_ = json.Unmarshal(ev.Data, &shown)
	_ = json.Unmarshal(again, &written)
	if !reflect.DeepEqual(shown, written) {
		t.Errorf("%s: the %s example's data is not what the code writes for it:\n\tshown:   %s\n\twritten: %s", where, ev.Type, ev.Data, again)
	}
	if ev.DataContentType != event.ContentTypeJSON {
		t.Errorf("%s: datacontenttype is %q; copyguard writes %q", where, ev.DataContentType, event.ContentTypeJSON)
	}
	// The worker stamps an event with its clock when it publishes it, so
	// its time is no earlier than the time in its data; an audit event's
	// time is its data's at.
	want := struct{ subject, ceSubject, source string }{}
	var at time.Time
	exact := false
	switch d := data.(type) {
	case event.Decision:
		want.subject, want.ceSubject, want.source, at = prefix.Decision(), d.Trigger.ID, "copyguard/"+d.Instance, d.DecidedAt
	case event.Result:
		want.subject, want.ceSubject, want.source, at = prefix.Result(d.Outcome), cloud.Copy{Region: d.Region, ImageID: d.ImageID}.Key(), "copyguard/"+d.Instance, d.FinishedAt
	case event.Rejected:
		want.subject, want.ceSubject, want.source, at = prefix.Rejected(), d.Subject, "copyguard/"+d.Instance, d.At
	case event.Audit:
		// The CLI writes the target as the subject; a worker (update-topology) none.
		want.subject, want.ceSubject, want.source, at, exact = prefix.Audit(), d.Target, "copyguard-cli", d.At, true
		if d.Action == event.AuditUpdateTopology {
			want.ceSubject, want.source = "", "copyguard/"+d.By
		}
		if ev.ID != d.ID() {
			t.Errorf("%s: an audit event's id is Audit.ID(): %q, not %q", where, d.ID(), ev.ID)
		}
	}
	if subject != want.subject {
		t.Errorf("%s: a %s event with this data is published on %q, not %q", where, ev.Type, want.subject, subject)
	}
	if ev.Subject != want.ceSubject {
		t.Errorf("%s: its CloudEvent subject is %q, not %q", where, want.ceSubject, ev.Subject)
	}
	if ev.Source != want.source {
		t.Errorf("%s: its source is %q, not %q", where, want.source, ev.Source)
	}
	switch {
	case exact && !ev.Time.Equal(at):
		t.Errorf("%s: its time is %s, not %s", where, at.Format(time.RFC3339Nano), ev.Time.Format(time.RFC3339Nano))
	case ev.Time.Before(at):
		t.Errorf("%s: its time %s is before %s in its data", where, ev.Time.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
	case ev.Time.Location() != time.UTC:
		t.Errorf("%s: copyguard writes its time in UTC, not %s", where, ev.Time.Format(time.RFC3339Nano))
	}
}

func checkOutcomes(t *testing.T, where, body string) {
	t.Helper()
	var have, want []string
	for _, r := range tableRows(body) {
		have = append(have, unquoteCell(r[0]))
	}
	for _, o := range cloud.Outcomes {
		want = append(want, string(o))
	}
	if !slices.Equal(have, want) {
		t.Errorf("%s: the outcomes table lists %v; cloud.Outcomes is %v", where, have, want)
	}
}

func checkSubjects(t *testing.T, where, body string) {
	t.Helper()
	s := event.SubjectsFor("")
	want := []string{s.Trigger("<type>"), s.Copy("started"), s.Copy("finished"), s.Decision(), s.Result("<outcome>"), s.Rejected(), s.Audit()}
	var have []string
	for _, r := range tableRows(body) {
		have = append(have, unquoteCell(r[0]))
	}
	if !slices.Equal(have, want) {
		t.Errorf("%s: the subjects table lists %v; event.Subjects gives %v", where, have, want)
	}
}

// checkLimits looks for each limit of the envelope, as the code sets it,
// in the text.
func checkLimits(t *testing.T, doc string) {
	t.Helper()
	for what, s := range map[string]string{
		"DefaultMaxSize":    fmt.Sprintf("%d KiB", event.DefaultMaxSize>>10),
		"MaxIDLen":          fmt.Sprintf("`id` | string | required | at most %d bytes", event.MaxIDLen),
		"MaxSourceLen":      fmt.Sprintf("`source` | string | required | at most %d bytes", event.MaxSourceLen),
		"MaxTypeLen":        fmt.Sprintf("`type` | string | required | at most %d bytes", event.MaxTypeLen),
		"MaxSubjectLen":     fmt.Sprintf("`subject` | string | optional | at most %d bytes", event.MaxSubjectLen),
		"MaxExtensions":     fmt.Sprintf("at most %d extension", event.MaxExtensions),
		"MaxTriggerTypeLen": fmt.Sprintf("at most %d characters", event.MaxTriggerTypeLen),
		"MaxDataDepth":      fmt.Sprintf("at most %d levels", event.MaxDataDepth),
		"MaxOriginal":       fmt.Sprintf("cut to %d KiB", event.MaxOriginal>>10),
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("%s: %s is not stated as the code sets it; want the text %q", eventsDoc, what, s)
		}
	}
}
