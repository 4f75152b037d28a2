package event

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// wantError checks that err is an *Error with exactly field and reason.
func wantError(t *testing.T, err error, field, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want {Field: %q, Reason: %q}", field, reason)
	}
	var ee *Error
	if !errors.As(err, &ee) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	if ee.Field != field || ee.Reason != reason {
		t.Errorf("error = {Field: %q, Reason: %q}\n         want {Field: %q, Reason: %q}", ee.Field, ee.Reason, field, reason)
	}
}

// TestDecodeRejectsEdges covers the rejection paths TestDecodeRejects
// leaves out: limits at their boundary, duplicates hidden by escapes,
// characters that are legal JSON but not legal attribute text, and the
// times and media types that are nearly right.
func TestDecodeRejectsEdges(t *testing.T) {
	long := func(n int) string { return `"` + strings.Repeat("x", n) + `"` }
	const badName = `is not valid: extension names are 1-20 lowercase letters or digits`
	notRFC := func(s string) string { return `"` + s + `" is not an RFC 3339 timestamp` }
	tests := []struct {
		name          string
		body          string
		maxSize       int
		field, reason string
	}{
		{"one byte over the limit", minimal, len(minimal) - 1, "", "body is 105 bytes, over the limit of 104 bytes"},
		{"negative limit is the default", `{"x":"` + strings.Repeat("a", DefaultMaxSize) + `"}`, -1, "", "body is 65544 bytes, over the limit of 65536 bytes"},
		{"byte order mark", "\ufeff" + minimal, 0, "", "malformed JSON at byte 1: invalid character 'ï' looking for beginning of value"},
		{"invalid utf-8 in a key", "{\"\xc3\":1}", 0, "", "body is not valid UTF-8"},
		{"surrogate half encoded raw", "{\"id\":\"\xed\xa0\x80\"}", 0, "", "body is not valid UTF-8"},
		{"raw control character in a string", "{\"id\":\"a\x01\"}", 0, "", "malformed JSON at byte 9: invalid character '\\x01' in string literal"},
		{"single quotes", `{'id':'x'}`, 0, "", "malformed JSON at byte 2: invalid character '\\'' looking for beginning of object key string"},
		{"leading zero", `{"ext":01}`, 0, "", "malformed JSON at byte 9: invalid character '1' after object key:value pair"},
		{"bare NaN", `{"ext":NaN}`, 0, "", "malformed JSON at byte 8: invalid character 'N' looking for beginning of value"},
		{"empty object", `{}`, 0, "specversion", "required attribute is missing"},

		{"duplicate through an escape", `{"id":"a","\u0069d":"b"}`, 0, "id", "duplicate attribute"},
		{"duplicate data", `{"data":{},"data":{"a":1}}`, 0, "data", "duplicate attribute"},
		{"duplicate extension", `{"ext":1,"ext":true}`, 0, "ext", "duplicate attribute"},
		{"duplicate long odd name", `{"` + strings.Repeat("Z", 70) + `":1,"` + strings.Repeat("Z", 70) + `":1}`, 0, "",
			`duplicate attribute "` + strings.Repeat("Z", 64) + `..."`},
		{"duplicate before missing attributes", `{"ext":1,"ext":1,"specversion":"0.3"}`, 0, "ext", "duplicate attribute"},

		{"specversion 1.0 with space", withAttr(t, "specversion", `"1.0 "`), 0, "specversion", `unsupported specversion "1.0 ", want "1.0"`},
		{"specversion null", withAttr(t, "specversion", `null`), 0, "specversion", "must be a string, got null"},
		{"id 257 bytes of two-byte characters", withAttr(t, "id", `"`+strings.Repeat("é", 129)+`"`), 0, "id", "is 258 bytes long, over the limit of 256"},
		{"id DEL", withAttr(t, "id", `"a\u007f"`), 0, "id", "contains a control character at byte 1"},
		{"id C1 control", withAttr(t, "id", `"ab\u0085"`), 0, "id", "contains a control character at byte 2"},
		{"id escaped NUL", withAttr(t, "id", `"\u0000"`), 0, "id", "contains a control character at byte 0"},
		{"id tab", withAttr(t, "id", `"a\tb"`), 0, "id", "contains a control character at byte 1"},
		{"source control after multibyte", withAttr(t, "source", `"é\r"`), 0, "source", "contains a control character at byte 2"},
		{"type empty", withAttr(t, "type", `""`), 0, "type", "must not be empty"},
		{"type control", withAttr(t, "type", `"a\u001b"`), 0, "type", "contains a control character at byte 1"},
		{"subject too long", withAttr(t, "subject", long(MaxSubjectLen+1)), 0, "subject", "is 513 bytes long, over the limit of 512"},
		{"subject control", withAttr(t, "subject", `"a\nb"`), 0, "subject", "contains a control character at byte 1"},
		{"dataschema empty", withAttr(t, "dataschema", `""`), 0, "dataschema", "must not be empty"},
		{"dataschema number", withAttr(t, "dataschema", `1`), 0, "dataschema", "must be a string, got number"},
		{"dataschema too long", withAttr(t, "dataschema", long(513)), 0, "dataschema", "is 513 bytes long, over the limit of 512"},
		{"dataschema control", withAttr(t, "dataschema", `"\u0001"`), 0, "dataschema", "contains a control character at byte 0"},

		{"content type too long", withAttr(t, "datacontenttype", long(129)), 0, "datacontenttype", "is 129 bytes long, over the limit of 128"},
		{"content type text/json", withAttr(t, "datacontenttype", `"text/json"`), 0, "datacontenttype", `unsupported content type "text/json", want "application/json"`},
		{"content type problem+json", withAttr(t, "datacontenttype", `"application/problem+json"`), 0, "datacontenttype", `unsupported content type "application/problem+json", want "application/json"`},
		{"content type bare parameter", withAttr(t, "datacontenttype", `"application/json; charset"`), 0, "datacontenttype", `unsupported content type "application/json; charset", want "application/json"`},
		{"content type duplicate parameter", withAttr(t, "datacontenttype", `"application/json;charset=utf-8;charset=x"`), 0, "datacontenttype", `unsupported content type "application/json;charset=utf-8;charset=x", want "application/json"`},
		{"content type number", withAttr(t, "datacontenttype", `1`), 0, "datacontenttype", "must be a string, got number"},

		{"time leap second", withAttr(t, "time", `"2016-12-31T23:59:60Z"`), 0, "time", notRFC("2016-12-31T23:59:60Z")},
		{"time lower case t", withAttr(t, "time", `"2026-01-02t03:04:05Z"`), 0, "time", notRFC("2026-01-02t03:04:05Z")},
		{"time february 30", withAttr(t, "time", `"2026-02-30T00:00:00Z"`), 0, "time", notRFC("2026-02-30T00:00:00Z")},
		{"time hour 24", withAttr(t, "time", `"2026-01-02T24:00:00Z"`), 0, "time", notRFC("2026-01-02T24:00:00Z")},
		{"time empty fraction", withAttr(t, "time", `"2026-01-02T03:04:05.Z"`), 0, "time", notRFC("2026-01-02T03:04:05.Z")},
		{"time date only", withAttr(t, "time", `"2026-01-02"`), 0, "time", notRFC("2026-01-02")},
		{"time plus sign year", withAttr(t, "time", `"+2026-01-02T03:04:05Z"`), 0, "time", notRFC("+2026-01-02T03:04:05Z")},
		{"time long garbage is cut", withAttr(t, "time", long(100)), 0, "time", `"` + strings.Repeat("x", 64) + `..." is not an RFC 3339 timestamp`},
		{"time offset +24:00", withAttr(t, "time", `"2026-01-02T03:04:05+24:00"`), 0, "time", "zone offset 86400s cannot be written in RFC 3339"},
		{"time offset +23:60", withAttr(t, "time", `"2026-01-02T03:04:05+23:60"`), 0, "time", "zone offset 86400s cannot be written in RFC 3339"},
		{"time offset -24:00", withAttr(t, "time", `"2026-01-02T03:04:05-24:00"`), 0, "time", "zone offset -86400s cannot be written in RFC 3339"},
		{"time year 9999 is 10000 in utc", withAttr(t, "time", `"9999-12-31T23:59:59-00:01"`), 0, "time", "year 10000 is outside the range 0-9999 of RFC 3339"},
		{"time zero with offset", withAttr(t, "time", `"0001-01-01T01:00:00+01:00"`), 0, "time", `"0001-01-01T01:00:00+01:00" is the zero time`},
		{"time object", withAttr(t, "time", `{}`), 0, "time", "must be a string, got object"},

		{"data boolean", withAttr(t, "data", `true`), 0, "data", "must be a JSON object, got boolean"},
		{"data_base64 null", withAttr(t, "data_base64", `null`), 0, "data_base64", "binary data is not supported; send data as a JSON object"},

		{"extension array", withAttr(t, "ext", `[]`), 0, "ext", "must be a string, boolean or 32-bit integer, got array"},
		{"extension exponent", withAttr(t, "ext", `1e3`), 0, "ext", "must be a string, boolean or 32-bit integer, got 1e3"},
		{"extension under int32", withAttr(t, "ext", `-2147483649`), 0, "ext", "must be a string, boolean or 32-bit integer, got -2147483649"},
		{"extension huge number is cut", withAttr(t, "ext", strings.Repeat("9", 40)), 0, "ext", "must be a string, boolean or 32-bit integer, got " + strings.Repeat("9", 32) + "..."},
		{"extension value control", withAttr(t, "ext", `"\u009f"`), 0, "ext", "contains a control character at byte 0"},
		{"extension name unicode", withAttr(t, "ünï", `"x"`), 0, "", `attribute name "ünï" ` + badName},
		{"extension name underscore", withAttr(t, "trace_id", `"x"`), 0, "", `attribute name "trace_id" ` + badName},
		{"extension name long is cut", withAttr(t, strings.Repeat("A", 80), `"x"`), 0, "", `attribute name "` + strings.Repeat("A", 64) + `..." ` + badName},
		{"first bad extension in name order", minimal[:len(minimal)-1] + `,"zz":[],"aa":{}}`, 0, "aa", "must be a string, boolean or 32-bit integer, got object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.body), tt.maxSize)
			if e != nil {
				t.Errorf("Decode returned an event: %+v", e)
			}
			wantError(t, err, tt.field, tt.reason)
		})
	}
}

func TestDecodeAcceptsEdges(t *testing.T) {
	long := func(s string, n int) string { return `"` + strings.Repeat(s, n) + `"` }
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, e *Event)
	}{
		{"id of exactly 256 bytes", withAttr(t, "id", long("é", 128)), func(t *testing.T, e *Event) {
			if len(e.ID) != MaxIDLen {
				t.Errorf("id is %d bytes", len(e.ID))
			}
		}},
		{"source of exactly 512 bytes", withAttr(t, "source", long("s", MaxSourceLen)), nil},
		{"type of exactly 256 bytes", withAttr(t, "type", long("t", MaxTypeLen)), nil},
		{"subject of exactly 512 bytes", withAttr(t, "subject", long("s", MaxSubjectLen)), nil},
		{"dataschema of exactly 512 bytes", withAttr(t, "dataschema", long("d", 512)), nil},
		{"extension of exactly 1024 bytes", withAttr(t, "ext", long("v", 1024)), nil},
		{"escapes in attributes", withAttr(t, "id", `"a\/b\"c\\d\u00e9\ud83d\ude00"`), func(t *testing.T, e *Event) {
			if e.ID != `a/b"c\dé😀` {
				t.Errorf("id = %q", e.ID)
			}
		}},
		{"lone surrogate becomes U+FFFD", withAttr(t, "id", `"\ud800x"`), func(t *testing.T, e *Event) {
			if e.ID != "\uFFFDx" {
				t.Errorf("id = %q", e.ID)
			}
		}},
		{"line separator is not a control character", withAttr(t, "subject", `"a\u2028b"`), func(t *testing.T, e *Event) {
			if e.Subject != "a\u2028b" {
				t.Errorf("subject = %q", e.Subject)
			}
		}},
		{"content type trailing semicolon", withAttr(t, "datacontenttype", `"application/json;"`), nil},
		{"content type spaces", withAttr(t, "datacontenttype", `"application/json ; charset=utf-8"`), nil},
		{"content type other charset", withAttr(t, "datacontenttype", `"application/json; charset=us-ascii"`), nil},
		{"content type kept as sent", withAttr(t, "datacontenttype", `"APPLICATION/JSON"`), func(t *testing.T, e *Event) {
			if e.DataContentType != "APPLICATION/JSON" {
				t.Errorf("datacontenttype = %q", e.DataContentType)
			}
		}},
		{"time year 0", withAttr(t, "time", `"0000-01-01T00:00:00Z"`), func(t *testing.T, e *Event) {
			if e.Time.Year() != 0 {
				t.Errorf("time = %v", e.Time)
			}
		}},
		{"time year 0 west of utc", withAttr(t, "time", `"0000-01-01T00:00:00-01:00"`), nil},
		{"time year 9999", withAttr(t, "time", `"9999-12-31T23:59:59.999999999Z"`), nil},
		{"time offset +23:59", withAttr(t, "time", `"2026-01-02T03:04:05+23:59"`), func(t *testing.T, e *Event) {
			if _, off := e.Time.Zone(); off != 23*3600+59*60 {
				t.Errorf("offset = %d", off)
			}
		}},
		{"time offset -00:00", withAttr(t, "time", `"2026-01-02T03:04:05-00:00"`), func(t *testing.T, e *Event) {
			if !e.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
				t.Errorf("time = %v", e.Time)
			}
		}},
		{"time ten fraction digits", withAttr(t, "time", `"2026-01-02T03:04:05.1234567891Z"`), func(t *testing.T, e *Event) {
			if e.Time.Nanosecond() != 123456789 {
				t.Errorf("nanoseconds = %d", e.Time.Nanosecond())
			}
		}},
		{"time just after the zero instant", withAttr(t, "time", `"0001-01-01T00:00:00.000000001Z"`), nil},
		{"extension values", minimal[:len(minimal)-1] + `,"a":"s","b":false,"c":2147483647,"d":-0,"e":true,"f":""}`,
			func(t *testing.T, e *Event) {
				want := map[string]any{"a": "s", "b": false, "c": int64(math.MaxInt32), "d": int64(0), "e": true, "f": ""}
				if !reflect.DeepEqual(e.Extensions, want) {
					t.Errorf("extensions = %#v, want %#v", e.Extensions, want)
				}
			}},
		{"extension name of digits", withAttr(t, "0123", `1`), nil},
		{"no extensions is nil", minimal, func(t *testing.T, e *Event) {
			if e.Extensions != nil {
				t.Errorf("extensions = %#v", e.Extensions)
			}
		}},
		{"exactly 32 extensions", manyExtensions(MaxExtensions), func(t *testing.T, e *Event) {
			if len(e.Extensions) != MaxExtensions {
				t.Errorf("%d extensions", len(e.Extensions))
			}
		}},
		{"attributes in any order with whitespace", " \r\n{ \"data\" : { \"b\" : [ 1 , 2 ] } , \"type\" : \"t\" , \"source\" : \"s\" , \"id\" : \"i\" , \"specversion\" : \"1.0\" } \t",
			func(t *testing.T, e *Event) {
				if string(e.Data) != `{"b":[1,2]}` {
					t.Errorf("data = %s", e.Data)
				}
			}},
		{"data with duplicate keys is left to decodeData", withAttr(t, "data", `{"a":1,"a":2}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.body), 0)
			if err != nil {
				t.Fatalf("Decode(%.300s): %v", tt.body, err)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
			// Whatever Decode accepts, Encode writes and Decode reads the same.
			b, err := e.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			again, err := Decode(b, len(b))
			if err != nil {
				t.Fatalf("re-decode of %s: %v", b, err)
			}
			if !sameEvent(e, again) {
				t.Errorf("round trip changed the event:\n%#v\n%#v", e, again)
			}
		})
	}
}

func TestUnmarshalJSONKeepsEventOnError(t *testing.T) {
	e := Event{ID: "before"}
	if err := json.Unmarshal([]byte(withAttr(t, "id", `""`)), &e); err == nil {
		t.Fatal("Unmarshal accepted an empty id")
	}
	if e.ID != "before" {
		t.Errorf("a failed Unmarshal changed the event: %+v", e)
	}
	big := withAttr(t, "data", `{"x":"`+strings.Repeat("a", DefaultMaxSize)+`"}`)
	if err := json.Unmarshal([]byte(big), &e); err != nil {
		t.Errorf("UnmarshalJSON applies a size limit: %v", err)
	}
}

// TestExtensionErrorIsStable: of several bad extensions the first by name
// is reported, every time, by Decode and by Validate alike. The reason
// feeds the id of the copyguard.rejected event, so a redelivered message
// must be rejected with the same words.
func TestExtensionErrorIsStable(t *testing.T) {
	body := minimal[:len(minimal)-1]
	for _, c := range "qwertyuiopasdfghjklzxcvbnm" {
		body += `,"` + string(c) + `":"\u0000"`
	}
	body += "}"
	for range 50 {
		_, err := Decode([]byte(body), 0)
		wantError(t, err, "a", "contains a control character at byte 0")
	}
	e := Event{SpecVersion: SpecVersion, ID: "i", Source: "s", Type: "t", Data: json.RawMessage(`{}`),
		Extensions: map[string]any{"z": 1.5, "m": "\x01", "b": int64(1) << 40, "Bad": "x", "id": "x"}}
	for range 50 {
		wantError(t, e.Validate(), "", `attribute name "Bad" is not valid: extension names are 1-20 lowercase letters or digits`)
	}
}
