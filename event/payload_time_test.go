package event

import (
	"encoding/json"
	"testing"
	"time"
)

// TestPayloadTimes: a time in data is held to the rules of the envelope's
// time attribute. time.Parse accepts offsets of a full day ("+24:00",
// "+23:60"), which encoding/json then refuses to write, so a payload
// decoded from them could not be stored or published again.
func TestPayloadTimes(t *testing.T) {
	const q = `{"region":"cn-hangzhou","reason":"r","until":`
	const s = `{"image_id":"m-abcd1234","region":"cn-hangzhou","started_at":`
	tests := []struct {
		name, typ, data string
		field, reason   string // empty: accepted
	}{
		{"until +24:00", TypeRegionQuarantined, q + `"2026-01-02T03:04:05+24:00"}`, "data.until", "zone offset 86400s cannot be written in RFC 3339"},
		{"until +23:60", TypeRegionQuarantined, q + `"2026-01-02T03:04:05+23:60"}`, "data.until", "zone offset 86400s cannot be written in RFC 3339"},
		{"until -24:00", TypeRegionQuarantined, q + `"2026-01-02T03:04:05-24:00"}`, "data.until", "zone offset -86400s cannot be written in RFC 3339"},
		{"until year -1 in utc", TypeRegionQuarantined, q + `"0000-01-01T00:00:00+01:00"}`, "data.until", "year -1 is outside the range 0-9999 of RFC 3339"},
		{"until year 10000 in utc", TypeRegionQuarantined, q + `"9999-12-31T23:59:00-01:00"}`, "data.until", "year 10000 is outside the range 0-9999 of RFC 3339"},
		{"until +23:59", TypeRegionQuarantined, q + `"2026-01-02T03:04:05+23:59"}`, "", ""},
		{"until year 0", TypeRegionQuarantined, q + `"0000-06-01T00:00:00Z"}`, "", ""},
		{"until leap second", TypeRegionQuarantined, q + `"2016-12-31T23:59:60Z"}`, "data.until", `"2016-12-31T23:59:60Z" is not an RFC 3339 timestamp`},
		{"started_at +24:00", TypeCopyStarted, s + `"2026-01-02T03:04:05+24:00"}`, "data.started_at", "zone offset 86400s cannot be written in RFC 3339"},
		{"started_at year 10000 in utc", TypeCopyStarted, s + `"9999-12-31T23:59:00-00:01"}`, "data.started_at", "year 10000 is outside the range 0-9999 of RFC 3339"},
		{"started_at -23:59", TypeCopyStarted, s + `"2026-01-02T03:04:05-23:59"}`, "", ""},
		{"started_at not a time", TypeCopyStarted, s + `"yesterday"}`, "data.started_at", `"yesterday" is not an RFC 3339 timestamp`},
		{"started_at number", TypeCopyStarted, s + `0}`, "data.started_at", "must be a string, got number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := inventory(t, tt.typ, tt.data, "")
			var p any
			var err error
			if tt.typ == TypeCopyStarted {
				p, err = DecodeCopyStarted(e)
			} else {
				_, p, err = DecodeTrigger(e)
			}
			if tt.reason != "" {
				wantError(t, err, tt.field, tt.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// What was accepted can be written again.
			if _, err := json.Marshal(p); err != nil {
				t.Errorf("accepted payload does not encode: %v", err)
			}
		})
	}

	// The same rule for payloads built in Go.
	bad := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 8*3600+343))
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	checks := []struct {
		name string
		p    interface{ Validate() error }
		want string
	}{
		{"until seconds offset", RegionQuarantined{Region: "cn-hangzhou", Reason: "r", Until: &bad}, "data.until: zone offset 29143s cannot be written in RFC 3339"},
		{"until year 10000", RegionQuarantined{Region: "cn-hangzhou", Reason: "r", Until: &far}, "data.until: year 10000 is outside the range 0-9999 of RFC 3339"},
		{"started_at seconds offset", CopyStarted{ImageID: "m-abcd1234", Region: "cn-hangzhou", StartedAt: bad}, "data.started_at: zone offset 29143s cannot be written in RFC 3339"},
		{"started_at year 10000", CopyStarted{ImageID: "m-abcd1234", Region: "cn-hangzhou", StartedAt: far}, "data.started_at: year 10000 is outside the range 0-9999 of RFC 3339"},
	}
	for _, tt := range checks {
		if err := tt.p.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("%s: Validate = %v, want %q", tt.name, err, tt.want)
		}
	}
}
