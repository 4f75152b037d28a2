package event

import (
	"bytes"
	"testing"
	"time"
)

// TestMarshalMatchesNewEncode: the fast path writes the same bytes as New
// followed by Encode, and Decode reads them back.
func TestMarshalMatchesNewEncode(t *testing.T) {
	at := time.Date(2026, 11, 29, 20, 0, 0, 123, time.FixedZone("x", 3600))
	r := Result{Trigger: TriggerRef{ID: "t-1", Type: "budget.exceeded", Source: "s"}, Outcome: "cancelled",
		Policies: []string{"p"}, ImageID: "m-abcd1234", Region: "cn-shanghai", Attempts: 1,
		Reason: "quote \" and <html> & \u2028", DecidedAt: at, FinishedAt: at, Instance: "w1"}
	for _, tt := range []struct {
		name string
		data any
	}{
		{"result", r},
		{"decision with empty lists", Decision{Trigger: r.Trigger, DecidedAt: at, Instance: "w1"}},
		{"map", map[string]any{"a": 1.5, "b": []any{"x", nil}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := New(TypeResult, "copyguard/w1", "result:x", "cn-shanghai/m-abcd1234", at, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ev.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(TypeResult, "copyguard/w1", "result:x", "cn-shanghai/m-abcd1234", at, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Marshal:\n%s\nNew+Encode:\n%s", got, want)
			}
			if _, err := Decode(got, 0); err != nil {
				t.Fatalf("Decode refuses Marshal's output: %v", err)
			}
		})
	}
}

func TestMarshalRefuses(t *testing.T) {
	for _, tt := range []struct {
		name         string
		typ, src, id string
		data         any
		want         string
	}{
		{"not an object", "t", "s", "i", []int{1}, "data: must be a JSON object"},
		{"no id", "t", "s", "", map[string]any{}, "id: must not be empty"},
		{"no source", "t", "", "i", map[string]any{}, "source: must not be empty"},
		{"unencodable", "t", "s", "i", map[string]any{"f": func() {}}, "data: cannot be encoded as JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Marshal(tt.typ, tt.src, tt.id, "", time.Time{}, tt.data)
			if err == nil || !bytes.HasPrefix([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
