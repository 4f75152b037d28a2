package event

import (
	"bytes"
	"encoding/json"
	"maps"
	"mime"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// SpecVersion is the only CloudEvents version copyguard reads and writes.
const SpecVersion = "1.0"

// DefaultMaxSize is the body size limit Decode applies when given none
// (SPEC §7: 64 KiB).
const DefaultMaxSize = 64 << 10

// ContentTypeJSON is the datacontenttype of every event copyguard writes,
// and the only media type it reads.
const ContentTypeJSON = "application/json"

// Limits on attribute sizes. They are far above anything a sane producer
// sends and exist so that one bad producer cannot blow up logs, KV keys or
// the rejected stream.
const (
	MaxIDLen           = 256
	MaxSourceLen       = 512
	MaxTypeLen         = 256
	MaxSubjectLen      = 512
	maxContentTypeLen  = 128
	maxDataSchemaLen   = 512
	MaxExtensions      = 32
	maxExtensionValLen = 1024
)

// extensionName is the CloudEvents 1.0 rule for attribute names (lowercase
// ASCII letters and digits), with its recommended 20-character cap made
// mandatory.
var extensionName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// coreAttributes are the attribute names the envelope itself defines, in
// the order they are checked and written.
var coreAttributes = []string{
	"specversion", "id", "source", "type", "subject", "time",
	"datacontenttype", "dataschema", "data_base64", "data",
}

// Event is a CloudEvents 1.0 event in structured JSON mode. Its data is
// always a JSON object; binary data (data_base64) is not supported.
//
// Extensions holds extension attributes (traceparent, partitionkey, ...)
// so that they survive a decode/encode round trip. Decode stores their
// values as string, bool or int64 (CloudEvents Integer is 32-bit).
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time,omitzero"` // RFC 3339 on the wire
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	Data            json.RawMessage `json:"data"`
	Extensions      map[string]any  `json:"-"`
}

// Decode parses and validates one structured-mode CloudEvent. A body over
// maxSize bytes is refused before it is parsed; maxSize <= 0 means
// DefaultMaxSize. Every error is an *Error.
//
// The returned Data is a compacted copy, so it does not alias b (a NATS
// message buffer may be reused after the handler returns).
func Decode(b []byte, maxSize int) (*Event, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(b) > maxSize {
		return nil, errorf("", "body is %d bytes, over the limit of %d bytes", len(b), maxSize)
	}
	e, err := decode(b)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// UnmarshalJSON decodes with the same rules as Decode but without a size
// limit: the caller already holds the bytes.
func (e *Event) UnmarshalJSON(b []byte) error {
	d, err := decode(b)
	if err != nil {
		return err
	}
	*e = *d
	return nil
}

func decode(b []byte) (*Event, *Error) {
	attrs, err := splitObject(b)
	if err != nil {
		return nil, err
	}
	e := &Event{}
	sv, ok := lookup(attrs, "specversion")
	if !ok {
		return nil, errorf("specversion", "required attribute is missing")
	}
	if e.SpecVersion, err = rawString("specversion", sv); err != nil {
		return nil, err
	}
	if e.SpecVersion != SpecVersion {
		return nil, errorf("specversion", "unsupported specversion %q, want %q", e.SpecVersion, SpecVersion)
	}
	strs := []struct {
		name     string
		dst      *string
		required bool
	}{
		{"id", &e.ID, true},
		{"source", &e.Source, true},
		{"type", &e.Type, true},
		{"subject", &e.Subject, false},
		{"datacontenttype", &e.DataContentType, false},
		{"dataschema", &e.DataSchema, false},
	}
	for _, s := range strs {
		raw, ok := lookup(attrs, s.name)
		if !ok {
			if s.required {
				return nil, errorf(s.name, "required attribute is missing")
			}
			continue
		}
		if *s.dst, err = rawString(s.name, raw); err != nil {
			return nil, err
		}
		// An optional attribute sent as "" would vanish on re-encoding;
		// refusing it keeps decode and encode symmetric.
		if *s.dst == "" {
			return nil, errorf(s.name, "must not be empty")
		}
	}
	if raw, ok := lookup(attrs, "time"); ok {
		s, err := rawString("time", raw)
		if err != nil {
			return nil, err
		}
		t, perr := time.Parse(time.RFC3339, s)
		if perr != nil {
			return nil, errorf("time", "%q is not an RFC 3339 timestamp", truncate(s, 64))
		}
		if t.IsZero() {
			// The zero instant is how Event says "no time"; accepting it
			// would make the attribute disappear on re-encoding.
			return nil, errorf("time", "%q is the zero time", s)
		}
		e.Time = t
	}
	if _, ok := lookup(attrs, "data_base64"); ok {
		return nil, errorf("data_base64", "binary data is not supported; send data as a JSON object")
	}
	raw, ok := lookup(attrs, "data")
	if !ok {
		return nil, errorf("data", "required attribute is missing")
	}
	if raw[0] != '{' {
		return nil, errorf("data", "must be a JSON object, got %s", rawKind(raw))
	}
	var buf bytes.Buffer
	if cerr := json.Compact(&buf, raw); cerr != nil {
		return nil, errorf("data", "malformed JSON: %v", cerr)
	}
	e.Data = buf.Bytes()
	for _, m := range attrs {
		name := m.name
		if isCore(name) {
			continue
		}
		if !extensionName.MatchString(name) {
			return nil, errorf("", "attribute name %q is not valid: extension names are 1-20 lowercase letters or digits", truncate(name, 64))
		}
		v, err := rawExtension(name, m.raw)
		if err != nil {
			return nil, err
		}
		if e.Extensions == nil {
			e.Extensions = make(map[string]any)
		}
		e.Extensions[name] = v
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return e, nil
}

func isCore(name string) bool {
	for _, c := range coreAttributes {
		if c == name {
			return true
		}
	}
	return false
}

func rawString(field string, raw []byte) (string, *Error) {
	if rawKind(raw) != "string" {
		return "", errorf(field, "must be a string, got %s", rawKind(raw))
	}
	return unquote(raw), nil
}

// rawExtension keeps the value kinds CloudEvents defines for extensions
// that JSON can carry: String (and the string-encoded URI, Binary and
// Timestamp kinds), Boolean and Integer.
func rawExtension(name string, raw []byte) (any, *Error) {
	switch rawKind(raw) {
	case "string":
		return rawString(name, raw)
	case "boolean":
		return raw[0] == 't', nil
	case "number":
		n, err := strconv.ParseInt(string(raw), 10, 32)
		if err != nil {
			return nil, errorf(name, "must be a string, boolean or 32-bit integer, got %s", truncate(string(raw), 32))
		}
		return n, nil
	}
	return nil, errorf(name, "must be a string, boolean or 32-bit integer, got %s", rawKind(raw))
}

// validate checks the envelope as it stands, whether it was decoded or
// built in Go, so that Encode never writes what Decode would refuse.
func (e *Event) validate() *Error {
	if err := e.validateAttributes(); err != nil {
		return err
	}
	if ct := e.DataContentType; ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != ContentTypeJSON {
			return errorf("datacontenttype", "unsupported content type %q, want %q", ct, ContentTypeJSON)
		}
	}
	if len(e.Data) == 0 {
		return errorf("data", "required attribute is missing")
	}
	if d := bytes.TrimLeft(e.Data, " \t\r\n"); len(d) == 0 || d[0] != '{' || !json.Valid(d) {
		return errorf("data", "must be a JSON object")
	}
	// json.Valid does not look inside strings: a json.RawMessage can
	// carry bytes that Decode refuses.
	if !utf8.Valid(e.Data) {
		return errorf("data", "is not valid UTF-8")
	}
	return e.validateExtensions()
}

// validateAttributes checks specversion, the text attributes and time:
// what Marshal, which writes no extensions and a fixed content type, must
// check too.
func (e *Event) validateAttributes() *Error {
	switch e.SpecVersion {
	case SpecVersion:
	case "":
		return errorf("specversion", "required attribute is missing")
	default:
		return errorf("specversion", "unsupported specversion %q, want %q", e.SpecVersion, SpecVersion)
	}
	texts := []struct {
		name     string
		val      string
		max      int
		required bool
	}{
		{"id", e.ID, MaxIDLen, true},
		{"source", e.Source, MaxSourceLen, true},
		{"type", e.Type, MaxTypeLen, true},
		{"subject", e.Subject, MaxSubjectLen, false},
		{"datacontenttype", e.DataContentType, maxContentTypeLen, false},
		{"dataschema", e.DataSchema, maxDataSchemaLen, false},
	}
	for _, t := range texts {
		if t.val == "" {
			if t.required {
				return errorf(t.name, "must not be empty")
			}
			continue
		}
		if err := checkText(t.name, t.val, t.max); err != nil {
			return err
		}
	}
	if !e.Time.IsZero() {
		return checkTime("time", e.Time)
	}
	return nil
}

// checkTime refuses a time that RFC 3339 (and so Encode, and
// encoding/json) cannot write as the same instant. time.Parse accepts
// some of them: "+24:00" and "+23:60" parse to an offset of a full day.
func checkTime(field string, t time.Time) *Error {
	// Checked in UTC too: 0000-01-01T00:00:00+01:00 is year -1 in UTC,
	// which New (and anyone normalising to UTC) could not write.
	for _, y := range []int{t.Year(), t.UTC().Year()} {
		if y < 0 || y > 9999 {
			return errorf(field, "year %d is outside the range 0-9999 of RFC 3339", y)
		}
	}
	// RFC 3339 offsets are whole minutes under a day; anything else
	// would be written as a different instant.
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return errorf(field, "zone offset %ds cannot be written in RFC 3339", off)
	}
	return nil
}

func (e *Event) validateExtensions() *Error {
	if len(e.Extensions) > MaxExtensions {
		return errorf("", "%d extension attributes, over the limit of %d", len(e.Extensions), MaxExtensions)
	}
	// In name order, as Decode reads them, so that of several bad
	// extensions the same one is always reported.
	for _, name := range slices.Sorted(maps.Keys(e.Extensions)) {
		v := e.Extensions[name]
		if isCore(name) {
			return errorf("", "extension %q collides with a core attribute", name)
		}
		if !extensionName.MatchString(name) {
			return errorf("", "attribute name %q is not valid: extension names are 1-20 lowercase letters or digits", truncate(name, 64))
		}
		switch v := v.(type) {
		case string:
			if err := checkText(name, v, maxExtensionValLen); err != nil {
				return err
			}
		case bool:
		case int, int32, int64:
			if n := toInt64(v); n < -1<<31 || n > 1<<31-1 {
				return errorf(name, "must be a string, boolean or 32-bit integer, got %d", n)
			}
		default:
			return errorf(name, "must be a string, boolean or 32-bit integer, got %T", v)
		}
	}
	return nil
}

// Validate checks the event with the rules Decode applies (the size limit
// aside). Use it on an event built by hand before handing it on.
func (e *Event) Validate() error {
	if e == nil {
		return errorf("", "nil event")
	}
	if err := e.validate(); err != nil {
		return err
	}
	return nil
}
