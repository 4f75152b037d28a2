package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest event Decode accepts.
const minimal = `{"specversion":"1.0","id":"e-1","source":"test","type":"region.released","data":{"region":"cn-hangzhou"}}`

// withAttr returns minimal with one attribute added or replaced; raw is
// the JSON value, or "" to delete the attribute.
func withAttr(t testing.TB, name, raw string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(minimal), &m); err != nil {
		t.Fatal(err)
	}
	if raw == "" {
		delete(m, name)
	} else {
		m[name] = json.RawMessage(raw)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeFullEvent(t *testing.T) {
	body := `{
		"specversion": "1.0",
		"id": "A234-1234-1234",
		"source": "/budgets/finance",
		"type": "budget.exceeded",
		"subject": "cc-42",
		"time": "2026-05-01T10:00:00.5+08:00",
		"datacontenttype": "application/json; charset=utf-8",
		"dataschema": "https://example.com/schemas/budget.json",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"sampled": true,
		"partition": 7,
		"data": { "budget": "q2", "percent": 101.5 }
	}`
	e, err := Decode([]byte(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := &Event{
		SpecVersion:     "1.0",
		ID:              "A234-1234-1234",
		Source:          "/budgets/finance",
		Type:            "budget.exceeded",
		Subject:         "cc-42",
		DataContentType: "application/json; charset=utf-8",
		DataSchema:      "https://example.com/schemas/budget.json",
		Data:            json.RawMessage(`{"budget":"q2","percent":101.5}`),
		Extensions: map[string]any{
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			"sampled":     true,
			"partition":   int64(7),
		},
	}
	wantTime := time.Date(2026, 5, 1, 2, 0, 0, 5e8, time.UTC)
	if !e.Time.Equal(wantTime) {
		t.Errorf("time = %v, want %v", e.Time, wantTime)
	}
	e.Time = time.Time{}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("decoded\n%#v\nwant\n%#v", e, want)
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"minimal", minimal},
		{"content type", withAttr(t, "datacontenttype", `"application/json"`)},
		{"content type upper case", withAttr(t, "datacontenttype", `"Application/JSON"`)},
		{"content type charset", withAttr(t, "datacontenttype", `"application/json;charset=utf-8"`)},
		{"time utc", withAttr(t, "time", `"2026-01-02T03:04:05Z"`)},
		{"time nanoseconds", withAttr(t, "time", `"2026-01-02T03:04:05.123456789-07:00"`)},
		{"escaped attribute name", `{"specversion":"1.0","\u0069d":"x","source":"s","type":"t","data":{}}`},
		{"empty data object", withAttr(t, "data", `{}`)},
		{"extension 20 chars", withAttr(t, "abcdefghij0123456789", `"v"`)},
		{"extension empty string", withAttr(t, "ext", `""`)},
		{"extension int32 min", withAttr(t, "ext", `-2147483648`)},
		{"exactly at the limit", minimal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode([]byte(tt.body), len(minimal)+200); err != nil {
				t.Fatalf("Decode(%s): %v", tt.body, err)
			}
		})
	}
	if _, err := Decode([]byte(minimal), len(minimal)); err != nil {
		t.Errorf("body of exactly maxSize bytes: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	long := func(n int) string { return `"` + strings.Repeat("x", n) + `"` }
	tests := []struct {
		name    string
		body    string
		maxSize int
		field   string
		reason  string
	}{
		{"over the limit", minimal, 50, "", "body is 105 bytes, over the limit of 50 bytes"},
		{"over the default limit", `{"x":"` + strings.Repeat("a", DefaultMaxSize) + `"}`, 0, "", "body is 65544 bytes, over the limit of 65536 bytes"},
		{"empty body", ``, 0, "", "body is empty"},
		{"whitespace body", " \n\t", 0, "", "body is empty"},
		{"invalid utf-8", "{\"id\":\"\xff\"}", 0, "", "body is not valid UTF-8"},
		{"array", `[1,2]`, 0, "", "body is a JSON array, want an object"},
		{"string", `"hello"`, 0, "", "body is a JSON string, want an object"},
		{"number", `42`, 0, "", "body is a JSON number, want an object"},
		{"null", `null`, 0, "", "body is a JSON null, want an object"},
		{"syntax error", `{"id" "x"}`, 0, "", "malformed JSON at byte 7: invalid character '\"' after object key"},
		{"trailing comma", `{"id":"x",}`, 0, "", "malformed JSON at byte 11: invalid character '}' looking for beginning of object key string"},
		{"truncated", `{"id":"x"`, 0, "", "malformed JSON at byte 9: unexpected end of JSON input"},
		{"truncated value", `{"id":`, 0, "", "malformed JSON at byte 6: unexpected end of JSON input"},
		{"trailing data", minimal + `x`, 0, "", "malformed JSON at byte 106: invalid character 'x' after top-level value"},
		{"two objects", minimal + `{}`, 0, "", "malformed JSON at byte 106: invalid character '{' after top-level value"},
		{"duplicate attribute", `{"type":"a","type":"b"}`, 0, "type", "duplicate attribute"},
		{"duplicate odd attribute", `{"A B":1,"A B":2}`, 0, "", `duplicate attribute "A B"`},

		{"specversion missing", withAttr(t, "specversion", ""), 0, "specversion", "required attribute is missing"},
		{"specversion 0.3", withAttr(t, "specversion", `"0.3"`), 0, "specversion", `unsupported specversion "0.3", want "1.0"`},
		{"specversion 1", withAttr(t, "specversion", `"1"`), 0, "specversion", `unsupported specversion "1", want "1.0"`},
		{"specversion number", withAttr(t, "specversion", `1.0`), 0, "specversion", "must be a string, got number"},

		{"id missing", withAttr(t, "id", ""), 0, "id", "required attribute is missing"},
		{"id number", withAttr(t, "id", `5`), 0, "id", "must be a string, got number"},
		{"id null", withAttr(t, "id", `null`), 0, "id", "must be a string, got null"},
		{"id empty", withAttr(t, "id", `""`), 0, "id", "must not be empty"},
		{"id too long", withAttr(t, "id", long(MaxIDLen+1)), 0, "id", "is 257 bytes long, over the limit of 256"},
		{"id control character", withAttr(t, "id", `"a\nb"`), 0, "id", "contains a control character at byte 1"},
		{"source missing", withAttr(t, "source", ""), 0, "source", "required attribute is missing"},
		{"source object", withAttr(t, "source", `{}`), 0, "source", "must be a string, got object"},
		{"source too long", withAttr(t, "source", long(MaxSourceLen+1)), 0, "source", "is 513 bytes long, over the limit of 512"},
		{"type missing", withAttr(t, "type", ""), 0, "type", "required attribute is missing"},
		{"type boolean", withAttr(t, "type", `true`), 0, "type", "must be a string, got boolean"},
		{"type too long", withAttr(t, "type", long(MaxTypeLen+1)), 0, "type", "is 257 bytes long, over the limit of 256"},
		{"subject empty", withAttr(t, "subject", `""`), 0, "subject", "must not be empty"},
		{"subject array", withAttr(t, "subject", `["a"]`), 0, "subject", "must be a string, got array"},

		{"time not rfc3339", withAttr(t, "time", `"2026-01-02 03:04:05"`), 0, "time", `"2026-01-02 03:04:05" is not an RFC 3339 timestamp`},
		{"time without zone", withAttr(t, "time", `"2026-01-02T03:04:05"`), 0, "time", `"2026-01-02T03:04:05" is not an RFC 3339 timestamp`},
		{"time unix number", withAttr(t, "time", `1767322800`), 0, "time", "must be a string, got number"},
		{"time zero", withAttr(t, "time", `"0001-01-01T00:00:00Z"`), 0, "time", `"0001-01-01T00:00:00Z" is the zero time`},
		{"time year -1 in utc", withAttr(t, "time", `"0000-01-01T00:00:00+01:00"`), 0, "time", "year -1 is outside the range 0-9999 of RFC 3339"},
		{"time empty", withAttr(t, "time", `""`), 0, "time", `"" is not an RFC 3339 timestamp`},

		{"content type xml", withAttr(t, "datacontenttype", `"application/xml"`), 0, "datacontenttype", `unsupported content type "application/xml", want "application/json"`},
		{"content type cloudevents", withAttr(t, "datacontenttype", `"application/cloudevents+json"`), 0, "datacontenttype", `unsupported content type "application/cloudevents+json", want "application/json"`},
		{"content type malformed", withAttr(t, "datacontenttype", `"application/"`), 0, "datacontenttype", `unsupported content type "application/", want "application/json"`},
		{"content type empty", withAttr(t, "datacontenttype", `""`), 0, "datacontenttype", "must not be empty"},

		{"data missing", withAttr(t, "data", ""), 0, "data", "required attribute is missing"},
		{"data array", withAttr(t, "data", `[1]`), 0, "data", "must be a JSON object, got array"},
		{"data string", withAttr(t, "data", `"{}"`), 0, "data", "must be a JSON object, got string"},
		{"data null", withAttr(t, "data", `null`), 0, "data", "must be a JSON object, got null"},
		{"data number", withAttr(t, "data", `1`), 0, "data", "must be a JSON object, got number"},
		{"data_base64", withAttr(t, "data_base64", `"e30="`), 0, "data_base64", "binary data is not supported; send data as a JSON object"},

		{"extension upper case", withAttr(t, "traceParent", `"x"`), 0, "", `attribute name "traceParent" is not valid: extension names are 1-20 lowercase letters or digits`},
		{"extension hyphen", withAttr(t, "trace-parent", `"x"`), 0, "", `attribute name "trace-parent" is not valid: extension names are 1-20 lowercase letters or digits`},
		{"extension too long", withAttr(t, "abcdefghij01234567890", `"x"`), 0, "", `attribute name "abcdefghij01234567890" is not valid: extension names are 1-20 lowercase letters or digits`},
		{"extension empty name", withAttr(t, "", `"x"`), 0, "", `attribute name "" is not valid: extension names are 1-20 lowercase letters or digits`},
		{"core attribute wrong case", withAttr(t, "ID", `"x"`), 0, "", `attribute name "ID" is not valid: extension names are 1-20 lowercase letters or digits`},
		{"extension object", withAttr(t, "ext", `{"a":1}`), 0, "ext", "must be a string, boolean or 32-bit integer, got object"},
		{"extension null", withAttr(t, "ext", `null`), 0, "ext", "must be a string, boolean or 32-bit integer, got null"},
		{"extension float", withAttr(t, "ext", `1.5`), 0, "ext", "must be a string, boolean or 32-bit integer, got 1.5"},
		{"extension over int32", withAttr(t, "ext", `2147483648`), 0, "ext", "must be a string, boolean or 32-bit integer, got 2147483648"},
		{"extension control character", withAttr(t, "ext", `"a\u0000"`), 0, "ext", "contains a control character at byte 1"},
		{"extension value too long", withAttr(t, "ext", long(1025)), 0, "ext", "is 1025 bytes long, over the limit of 1024"},
		{"too many extensions", manyExtensions(MaxExtensions + 1), 0, "", "33 extension attributes, over the limit of 32"},
		{"too many attributes", manyExtensions(60), 0, "", "more than 42 attributes: 10 core and at most 32 extensions are allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.body), tt.maxSize)
			if err == nil {
				t.Fatalf("Decode(%.200s) = %+v, want error %q", tt.body, e, tt.reason)
			}
			if e != nil {
				t.Errorf("Decode returned an event with its error")
			}
			var ee *Error
			if !errors.As(err, &ee) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if ee.Field != tt.field || ee.Reason != tt.reason {
				t.Errorf("error = {Field: %q, Reason: %q}\n         want {Field: %q, Reason: %q}", ee.Field, ee.Reason, tt.field, tt.reason)
			}
		})
	}
}

func manyExtensions(n int) string {
	var b strings.Builder
	b.WriteString(minimal[:len(minimal)-1])
	for i := range n {
		b.WriteString(`,"x` + strings.Repeat("y", i%10) + string(rune('a'+i/10)) + `":1`)
	}
	b.WriteString("}")
	return b.String()
}

func TestErrorText(t *testing.T) {
	if got := (&Error{Field: "id", Reason: "must not be empty"}).Error(); got != "id: must not be empty" {
		t.Errorf("with field: %q", got)
	}
	if got := (&Error{Reason: "body is empty"}).Error(); got != "body is empty" {
		t.Errorf("without field: %q", got)
	}
}

func TestDecodeCopiesData(t *testing.T) {
	body := []byte(minimal)
	e, err := Decode(body, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = ' '
	}
	if string(e.Data) != `{"region":"cn-hangzhou"}` {
		t.Errorf("Data aliases the input buffer: %q", e.Data)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	body := `{"specversion":"1.0","id":"x","source":"s","type":"t.u","subject":"sub",` +
		`"time":"2026-01-02T03:04:05.25-07:00","datacontenttype":"application/json",` +
		`"dataschema":"urn:s","a":"<b>","b":false,"c":-3,"data":{ "k" : [1, 2.5, "x\u00e9<"] }}`
	e, err := Decode([]byte(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"specversion":"1.0","id":"x","source":"s","type":"t.u","subject":"sub",` +
		`"time":"2026-01-02T03:04:05.25-07:00","datacontenttype":"application/json",` +
		`"dataschema":"urn:s","a":"\u003cb\u003e","b":false,"c":-3,"data":{"k":[1,2.5,"x\u00e9<"]}}`
	if string(b) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", b, want)
	}
	again, err := Decode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !sameEvent(e, again) {
		t.Errorf("round trip changed the event:\n%#v\n%#v", e, again)
	}
}

func TestNew(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CST", 8*3600))
	e, err := New(TypeCancelRequested, "copyguard/cli", "id-1", "", at,
		CancelRequested{ImageID: "m-bp1g6zv0ce8oghu7k2tq", Region: "cn-hangzhou", Reason: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Time.Location() != time.UTC || !e.Time.Equal(at) {
		t.Errorf("time = %v, want %v in UTC", e.Time, at)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"specversion":"1.0","id":"id-1","source":"copyguard/cli","type":"cancel.requested",` +
		`"time":"2026-03-03T21:06:07Z","datacontenttype":"application/json",` +
		`"data":{"image_id":"m-bp1g6zv0ce8oghu7k2tq","region":"cn-hangzhou","reason":"operator"}}`
	if string(b) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", b, want)
	}
	if _, err := New("t", "s", "i", "", time.Time{}, []int{1}); err == nil || err.Error() != "data: must be a JSON object" {
		t.Errorf("array data: %v", err)
	}
	if _, err := New("t", "s", "i", "", time.Time{}, func() {}); err == nil || !strings.HasPrefix(err.Error(), "data: cannot be encoded as JSON: ") {
		t.Errorf("func data: %v", err)
	}
	if _, err := New("t", "", "i", "", time.Time{}, struct{}{}); err == nil || err.Error() != "source: must not be empty" {
		t.Errorf("empty source: %v", err)
	}
	e, err = New("t", "s", "i", "", time.Time{}, json.RawMessage(`{ "a" : 1 }`))
	if err != nil || !e.Time.IsZero() {
		t.Fatalf("raw data: %v, time %v", err, e.Time)
	}
	if b, _ := e.Encode(); !bytes.Contains(b, []byte(`"data":{"a":1}`)) || bytes.Contains(b, []byte(`"time"`)) {
		t.Errorf("raw data encoded as %s", b)
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	good := func() Event {
		return Event{SpecVersion: "1.0", ID: "i", Source: "s", Type: "t", Data: json.RawMessage(`{}`)}
	}
	tests := []struct {
		name   string
		mutate func(*Event)
		want   string
	}{
		{"no specversion", func(e *Event) { e.SpecVersion = "" }, "specversion: required attribute is missing"},
		{"old specversion", func(e *Event) { e.SpecVersion = "0.3" }, `specversion: unsupported specversion "0.3", want "1.0"`},
		{"no id", func(e *Event) { e.ID = "" }, "id: must not be empty"},
		{"bad utf-8 type", func(e *Event) { e.Type = "\xff" }, "type: is not valid UTF-8"},
		{"no data", func(e *Event) { e.Data = nil }, "data: required attribute is missing"},
		{"array data", func(e *Event) { e.Data = json.RawMessage(`[]`) }, "data: must be a JSON object"},
		{"broken data", func(e *Event) { e.Data = json.RawMessage(`{"a":}`) }, "data: must be a JSON object"},
		{"year 10000", func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time: year 10000 is outside the range 0-9999 of RFC 3339"},
		{"offset seconds", func(e *Event) { e.Time = time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 8*3600+343)) }, "time: zone offset 29143s cannot be written in RFC 3339"},
		{"bad content type", func(e *Event) { e.DataContentType = "text/plain" }, `datacontenttype: unsupported content type "text/plain", want "application/json"`},
		{"core extension", func(e *Event) { e.Extensions = map[string]any{"id": "x"} }, `extension "id" collides with a core attribute`},
		{"bad extension name", func(e *Event) { e.Extensions = map[string]any{"A": "x"} }, `attribute name "A" is not valid: extension names are 1-20 lowercase letters or digits`},
		{"float extension", func(e *Event) { e.Extensions = map[string]any{"x": 1.5} }, "x: must be a string, boolean or 32-bit integer, got float64"},
		{"big extension", func(e *Event) { e.Extensions = map[string]any{"x": int64(1) << 40} }, "x: must be a string, boolean or 32-bit integer, got 1099511627776"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good()
			tt.mutate(&e)
			_, err := e.Encode()
			if err == nil || err.Error() != tt.want {
				t.Errorf("Encode error = %v, want %q", err, tt.want)
			}
			if verr := e.Validate(); verr == nil || verr.Error() != tt.want {
				t.Errorf("Validate error = %v, want %q", verr, tt.want)
			}
		})
	}
	var nilEvent *Event
	if _, err := nilEvent.Encode(); err == nil {
		t.Error("Encode of a nil event succeeded")
	}
	e := good()
	e.Extensions = map[string]any{"n": 3, "m": int32(4)}
	if b, err := e.Encode(); err != nil || !bytes.Contains(b, []byte(`"m":4,"n":3`)) {
		t.Errorf("int extensions: %s, %v", b, err)
	}
}

func TestEventInsideJSON(t *testing.T) {
	type envelope struct {
		Event Event `json:"event"`
	}
	in := `{"event":` + withAttr(t, "traceparent", `"tp"`) + `}`
	var v envelope
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if v.Event.Extensions["traceparent"] != "tp" {
		t.Errorf("extensions lost: %#v", v.Event)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"traceparent":"tp"`)) {
		t.Errorf("Marshal dropped the extension: %s", out)
	}
	bad := `{"event":` + withAttr(t, "id", "7") + `}`
	if err := json.Unmarshal([]byte(bad), &v); err == nil || !strings.Contains(err.Error(), "id: must be a string, got number") {
		t.Errorf("Unmarshal of a bad nested event: %v", err)
	}
}

// sameEvent compares events canonically: times by instant, data by its
// compact form, everything else exactly.
func sameEvent(a, b *Event) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	var da, db bytes.Buffer
	if json.Compact(&da, a.Data) != nil || json.Compact(&db, b.Data) != nil || da.String() != db.String() {
		return false
	}
	x, y := *a, *b
	x.Time, y.Time = time.Time{}, time.Time{}
	x.Data, y.Data = nil, nil
	return reflect.DeepEqual(x, y)
}
