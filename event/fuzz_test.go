package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// seedEvents are valid and invalid bodies the fuzzers start from.
var seedEvents = []string{
	minimal,
	`{"specversion":"1.0","id":"b-1","source":"/budgets","type":"budget.exceeded","time":"2026-05-01T10:00:00.5+08:00",` +
		`"datacontenttype":"application/json; charset=utf-8","traceparent":"00-ab-cd-01","n":7,"ok":true,` +
		`"data":{"budget":"q2","scope":{"tags":{"cost-center":"cc-42"},"resource_group_id":"rg-acfmxazb4ph6aiy"},"limit":1000,"actual":1234.5,"currency":"CNY","percent":123.45}}`,
	`{"specversion":"1.0","id":"q-1","source":"ops","type":"region.quarantined","subject":"cn-hangzhou","data":{"region":"cn-hangzhou","reason":"incident","until":"2026-06-01T00:00:00Z"}}`,
	`{"specversion":"1.0","id":"c-1","source":"ops","type":"cancel.requested","data":{"image_id":"m-bp1g6zv0ce8oghu7k2tq","region":"cn-hangzhou","reason":"wrong","requested_by":"alice"}}`,
	`{"specversion":"1.0","id":"s-1","source":"ci","type":"copy.started","data":{"image_id":"m-2zeggz4i4n2z510ajcvw","region":"cn-beijing","size_gb":40,"tags":{"a":"b"},"started_at":"2026-05-01T10:00:00Z"}}`,
	`{"specversion":"1.0","id":"f-1","source":"ci","type":"copy.finished","data":{"image_id":"m-2zeggz4i4n2z510ajcvw","region":"cn-beijing","status":"Available"}}`,
	`{"specversion":"1.0","id":"u-1","source":"me","type":"team.freeze","data":{"list":[1,-0,1e20,"\u00e9\ud800",null,{"k":[]}],"big":9007199254740993}}`,
	`{"specversion":"0.3","id":"x"}`,
	`{"specversion":"1.0","id":5,"source":"s","type":"t","data":{}}`,
	`{"specversion":"1.0","id":"x","source":"s","type":"t","data_base64":"e30="}`,
	`{"specversion":"1.0","id":"x","source":"s","type":"t","Bad-Name":1,"data":{}}`,
	`{"specversion":"1.0","id":"x","source":"s","type":"t","time":"0000-01-01T00:00:00+23:59","data":{}}`,
	`{"type":"a","type":"b"}`,
	`[]`, `null`, ``, `{`, `{"a":1} {}`, "\xff",
}

func FuzzDecode(f *testing.F) {
	for _, s := range seedEvents {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b, 0)
		if err != nil {
			var ee *Error
			if !errors.As(err, &ee) || e != nil {
				t.Fatalf("Decode error %T %v (event %v): want a bare *Error", err, err, e)
			}
			// The same input is always refused with the same words: they
			// go into the rejected event's id.
			if _, again := Decode(b, 0); again == nil || again.Error() != err.Error() {
				t.Fatalf("Decode refused %q with %q, then with %v", b, err, again)
			}
			r := Reject("s", b, err, "fuzz", time.Unix(1, 0))
			if verr := r.Validate(); verr != nil || !utf8.ValidString(r.Original) {
				t.Fatalf("rejection notice for %q is invalid: %v", b, verr)
			}
			if len(b) > 0 && r.Original == "" {
				t.Fatalf("rejection notice for %d bytes kept nothing of them", len(b))
			}
			return
		}
		out, err := e.Encode()
		if err != nil {
			t.Fatalf("accepted event does not encode: %v\ninput: %q", err, b)
		}
		// Escaping can make the output longer than the input, so the
		// size limit is lifted for the second read.
		again, err := Decode(out, len(out))
		if err != nil {
			t.Fatalf("encoded event is rejected: %v\ninput:  %q\noutput: %q", err, b, out)
		}
		if !sameEvent(e, again) {
			t.Fatalf("round trip changed the event:\n%#v\n%#v", e, again)
		}
		out2, err := again.Encode()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding is not stable (%v):\n%q\n%q", err, out, out2)
		}
		checkTrigger(t, e)
		checkInventory(t, e)
	})
}

func FuzzDecodeTrigger(f *testing.F) {
	for _, s := range seedEvents {
		var v struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal([]byte(s), &v) == nil && len(v.Data) > 0 {
			f.Add(v.Type, []byte(v.Data))
		}
	}
	f.Add(TypeBudgetExceeded, []byte(`{"budget":"b","percent":-0,"limit":0.1,"scope":{"tags":{"":"x"}}}`))
	f.Add(TypeRegionReleased, []byte(`{"region":"us-west-1","region":"cn-hangzhou"}`))
	f.Add("a.b", []byte(`{"a":{"a":{"a":[[[[1e400]]]]}}}`))
	f.Add(TypeCopyStarted, []byte(`{"image_id":"m-abcd1234","region":"cn-hangzhou","tags":{},"size_gb":1.0}`))
	f.Add(TypeCopyFinished, []byte(`{"image_id":"m-abcd1234","region":"cn-hangzhou","status":"CreateFailed"}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e := &Event{SpecVersion: SpecVersion, ID: "fuzz", Source: "fuzz", Type: typ, Data: data}
		if e.Validate() != nil {
			// An event built in Go may skip validation; DecodeTrigger
			// must still answer with an *Error, never a panic.
			if _, _, err := DecodeTrigger(e); err != nil {
				var ee *Error
				if !errors.As(err, &ee) {
					t.Fatalf("error %T %v is not an *Error", err, err)
				}
			}
			// The scanner's own bounds checks, without json.Valid in front.
			if len(data) > 0 && data[0] == '{' {
				(&scanner{b: data}).object(nil, 1)
			}
			(&scanner{b: data}).skip()
			return
		}
		// What Validate accepts, Encode writes and Decode reads back.
		out, err := e.Encode()
		if err != nil {
			t.Fatalf("valid event does not encode: %v", err)
		}
		if _, err := Decode(out, len(out)); err != nil {
			t.Fatalf("Decode refuses what Encode wrote: %v\n%q", err, out)
		}
		checkTrigger(t, e)
		checkInventory(t, e)
	})
}

// checkTrigger runs DecodeTrigger on e and, when it accepts, checks that
// the generic data and the typed payload survive being written by Go and
// read again: what policies see does not depend on who encoded the data.
func checkTrigger(t *testing.T, e *Event) {
	t.Helper()
	data, typed, err := DecodeTrigger(e)
	if err != nil {
		var ee *Error
		if !errors.As(err, &ee) || data != nil || typed != nil {
			t.Fatalf("DecodeTrigger error %T %v with data %v, typed %v", err, err, data, typed)
		}
		return
	}
	builtIn := e.Type == TypeBudgetExceeded || e.Type == TypeRegionQuarantined ||
		e.Type == TypeRegionReleased || e.Type == TypeCancelRequested
	if builtIn != (typed != nil) {
		t.Fatalf("type %q: typed payload %#v", e.Type, typed)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatalf("generic data does not marshal: %v", err)
	}
	re, err := New(e.Type, "fuzz", "again", "", e.Time, json.RawMessage(raw))
	if err != nil {
		t.Fatalf("re-encoded data is not an event: %v\n%s", err, raw)
	}
	data2, typed2, err := DecodeTrigger(re)
	if err != nil {
		t.Fatalf("re-encoded data is rejected: %v\n%s", err, raw)
	}
	if !reflect.DeepEqual(data, data2) {
		t.Fatalf("generic data changed:\n%#v\n%#v", data, data2)
	}
	if typed == nil {
		return
	}
	// The typed payload written by its own JSON tags reads back the same.
	te, err := New(e.Type, "fuzz", "typed", "", e.Time, typed)
	if err != nil {
		t.Fatalf("typed payload does not encode: %v", err)
	}
	_, typed3, err := DecodeTrigger(te)
	if err != nil {
		t.Fatalf("typed payload %#v is rejected: %v", typed, err)
	}
	for _, p := range []any{typed2, typed3} {
		a, _ := json.Marshal(typed)
		b, _ := json.Marshal(p)
		if !bytes.Equal(a, b) {
			t.Fatalf("typed payload changed:\n%s\n%s", a, b)
		}
	}
}

// checkInventory runs the inventory decoders on e and, when one accepts,
// checks that the payload written by its own JSON tags reads back the same.
func checkInventory(t *testing.T, e *Event) {
	t.Helper()
	var p any
	var err error
	switch e.Type {
	case TypeCopyStarted:
		p, err = DecodeCopyStarted(e)
	case TypeCopyFinished:
		p, err = DecodeCopyFinished(e)
	default:
		if _, err := DecodeCopyStarted(e); err == nil {
			t.Fatalf("DecodeCopyStarted accepted type %q", e.Type)
		}
		return
	}
	if err != nil {
		var ee *Error
		if !errors.As(err, &ee) {
			t.Fatalf("inventory error %T %v is not an *Error", err, err)
		}
		return
	}
	re, err := New(e.Type, "fuzz", "again", "", time.Time{}, p)
	if err != nil {
		t.Fatalf("inventory payload %#v does not encode: %v", p, err)
	}
	var back any
	if e.Type == TypeCopyStarted {
		back, err = DecodeCopyStarted(re)
	} else {
		back, err = DecodeCopyFinished(re)
	}
	if err != nil {
		t.Fatalf("inventory payload %#v is rejected: %v", p, err)
	}
	a, _ := json.Marshal(p)
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Fatalf("inventory payload changed:\n%s\n%s", a, b)
	}
}
