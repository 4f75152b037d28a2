package event

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

func toInt64(v any) int64 {
	switch v := v.(type) {
	case int:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	}
	return 0
}

// New builds an event with datacontenttype application/json. data must
// marshal to a JSON object (a struct, a map, or a json.RawMessage holding
// one). t is stored in UTC without its monotonic reading; a zero t leaves
// the time attribute out.
func New(typ, source, id, subject string, t time.Time, data any) (*Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, errorf("data", "cannot be encoded as JSON: %v", err)
	}
	e := &Event{
		SpecVersion:     SpecVersion,
		ID:              id,
		Source:          source,
		Type:            typ,
		Subject:         subject,
		DataContentType: ContentTypeJSON,
		Data:            raw,
	}
	if !t.IsZero() {
		e.Time = t.UTC()
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// Encode writes the event in structured JSON mode. It refuses an event
// that Decode would refuse (the size limit aside), so whatever copyguard
// publishes can be read back by copyguard.
func (e *Event) Encode() ([]byte, error) {
	if e == nil {
		return nil, errorf("", "nil event")
	}
	return e.MarshalJSON()
}

// MarshalJSON is Encode; it exists so that an Event nested in another
// value keeps its extensions and its validation.
func (e Event) MarshalJSON() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(e.Data) + 256)
	e.writeAttributes(&b)
	b.WriteString(`,"data":`)
	if err := json.Compact(&b, e.Data); err != nil {
		return nil, errorf("data", "malformed JSON: %v", err)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeAttributes writes "{" and every attribute but data.
func (e *Event) writeAttributes(b *bytes.Buffer) {
	b.WriteByte('{')
	writeAttr(b, "specversion", e.SpecVersion, true)
	writeAttr(b, "id", e.ID, false)
	writeAttr(b, "source", e.Source, false)
	writeAttr(b, "type", e.Type, false)
	writeAttr(b, "subject", e.Subject, false)
	if !e.Time.IsZero() {
		writeAttr(b, "time", e.Time.Format(time.RFC3339Nano), false)
	}
	writeAttr(b, "datacontenttype", e.DataContentType, false)
	writeAttr(b, "dataschema", e.DataSchema, false)
	names := make([]string, 0, len(e.Extensions))
	for name := range e.Extensions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b.WriteByte(',')
		writeString(b, name)
		b.WriteByte(':')
		switch v := e.Extensions[name].(type) {
		case string:
			writeString(b, v)
		case bool:
			b.WriteString(strconv.FormatBool(v))
		default:
			b.WriteString(strconv.FormatInt(toInt64(v), 10))
		}
	}
}

// Marshal builds and encodes an event in one step, for the events
// copyguard makes from its own structs. json.Marshal already gives
// compact, valid JSON, so unlike New followed by Encode the data is not
// parsed twice more: this is on the path of every decision and result.
func Marshal(typ, source, id, subject string, t time.Time, data any) ([]byte, error) {
	var raw []byte
	var err error
	switch d := data.(type) {
	case Decision:
		// Called directly: json.Marshal would compact its output once more.
		raw, err = d.MarshalJSON()
	case Result:
		raw, err = d.MarshalJSON()
	default:
		raw, err = json.Marshal(data)
	}
	if err != nil {
		return nil, errorf("data", "cannot be encoded as JSON: %v", err)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errorf("data", "must be a JSON object")
	}
	e := Event{SpecVersion: SpecVersion, ID: id, Source: source, Type: typ, Subject: subject, DataContentType: ContentTypeJSON}
	if !t.IsZero() {
		e.Time = t.UTC()
	}
	// The attributes get every check Decode applies: a subject or id
	// taken from input (a rejected message's subject) may break them.
	if err := e.validateAttributes(); err != nil {
		return nil, err
	}
	// json.Marshal copies a json.RawMessage's bytes as they are.
	if !utf8.Valid(raw) {
		return nil, errorf("data", "is not valid UTF-8")
	}
	var b bytes.Buffer
	b.Grow(len(raw) + 256)
	e.writeAttributes(&b)
	b.WriteString(`,"data":`)
	b.Write(raw)
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeAttr(b *bytes.Buffer, name, val string, first bool) {
	if val == "" {
		return
	}
	if !first {
		b.WriteByte(',')
	}
	writeString(b, name)
	b.WriteByte(':')
	writeString(b, val)
}

func writeString(b *bytes.Buffer, s string) {
	// Attribute values are nearly always plain ASCII; only the rest goes
	// through encoding/json, which escapes exactly as the data is escaped.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			b.Write(q)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
