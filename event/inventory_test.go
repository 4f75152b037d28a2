package event

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

func inventory(t testing.TB, typ, data, at string) *Event {
	t.Helper()
	timeAttr := ""
	if at != "" {
		timeAttr = `"time":"` + at + `",`
	}
	body := `{"specversion":"1.0","id":"i-1","source":"ci",` + timeAttr + `"type":"` + typ + `","data":` + data + `}`
	e, err := Decode([]byte(body), 0)
	if err != nil {
		t.Fatalf("Decode(%s): %v", body, err)
	}
	return e
}

func TestDecodeCopyStarted(t *testing.T) {
	e := inventory(t, TypeCopyStarted, `{"image_id":"m-2zeggz4i4n2z510ajcvw","region":"cn-beijing",`+
		`"source_image_id":"m-bp1g6zv0ce8oghu7k2tq","source_region":"cn-hangzhou","size_gb":40,"name":"golden-2026-05",`+
		`"resource_group_id":"rg-acfmxazb4ph6aiy","tags":{"cost-center":"cc-42","protect":"true"},`+
		`"started_at":"2026-05-01T10:00:00Z","pipeline":"future field"}`, "2026-05-01T10:00:01Z")
	got, err := DecodeCopyStarted(e)
	if err != nil {
		t.Fatal(err)
	}
	want := CopyStarted{
		ImageID: "m-2zeggz4i4n2z510ajcvw", Region: "cn-beijing", SourceImageID: "m-bp1g6zv0ce8oghu7k2tq",
		SourceRegion: "cn-hangzhou", SizeGB: 40, Name: "golden-2026-05", ResourceGroupID: "rg-acfmxazb4ph6aiy",
		Tags:      map[string]string{"cost-center": "cc-42", "protect": "true"},
		StartedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeCopyStarted =\n%#v\nwant\n%#v", got, want)
	}
	c := got.Copy()
	wantCopy := cloud.Copy{
		ImageID: want.ImageID, Region: want.Region, SourceImageID: want.SourceImageID, SourceRegion: want.SourceRegion,
		Status: cloud.StatusWaiting, Progress: 0, SizeGB: 40, Tags: want.Tags, StartedAt: want.StartedAt,
		Name: want.Name, ResourceGroupID: want.ResourceGroupID,
	}
	if !reflect.DeepEqual(c, wantCopy) {
		t.Errorf("Copy =\n%#v\nwant\n%#v", c, wantCopy)
	}
	c.Tags["protect"] = "false"
	if got.Tags["protect"] != "true" {
		t.Error("Copy shares its tags map with the event")
	}
}

func TestDecodeCopyStartedMinimal(t *testing.T) {
	e := inventory(t, TypeCopyStarted, `{"image_id":"m-abcd1234","region":"us-east-1","size_gb":null}`, "2026-05-01T10:00:01+08:00")
	got, err := DecodeCopyStarted(e)
	if err != nil {
		t.Fatal(err)
	}
	if !got.StartedAt.Equal(e.Time) {
		t.Errorf("started_at = %v, want the event time %v", got.StartedAt, e.Time)
	}
	if got.Copy().Tags != nil {
		t.Error("no tags should stay nil")
	}
}

func TestDecodeCopyFinished(t *testing.T) {
	for _, status := range []string{cloud.StatusAvailable, cloud.StatusCreateFailed} {
		got, err := DecodeCopyFinished(inventory(t, TypeCopyFinished, `{"image_id":"m-abcd1234","region":"us-east-1","status":"`+status+`"}`, ""))
		if err != nil {
			t.Fatal(err)
		}
		if want := (CopyFinished{ImageID: "m-abcd1234", Region: "us-east-1", Status: status}); got != want {
			t.Errorf("got %#v, want %#v", got, want)
		}
	}
}

func TestDecodeInventoryRejects(t *testing.T) {
	const id = `"image_id":"m-abcd1234","region":"us-east-1"`
	tests := []struct {
		name, typ, data string
		field, reason   string
	}{
		{"started wrong type", TypeCopyFinished, `{}`, "type", `"copy.finished" is not "copy.started"`},
		{"started image missing", TypeCopyStarted, `{"region":"us-east-1"}`, "data.image_id", "required field is missing"},
		{"started image is source", TypeCopyStarted, `{"image_id":"centos_7_9_x64_20G_alibase_20240628.vhd","region":"us-east-1"}`, "data.image_id",
			`"centos_7_9_x64_20G_alibase_20240628.vhd" is not a custom image id: want m- followed by 4-40 lowercase letters or digits`},
		{"started region missing", TypeCopyStarted, `{"image_id":"m-abcd1234"}`, "data.region", "required field is missing"},
		{"started source region", TypeCopyStarted, `{` + id + `,"source_region":"Hangzhou"}`, "data.source_region",
			`"Hangzhou" is not a region id: want lowercase letters, digits and hyphens like cn-hangzhou or ap-southeast-1`},
		{"started source image", TypeCopyStarted, `{` + id + `,"source_image_id":"m-x"}`, "data.source_image_id",
			`"m-x" is not a custom image id: want m- followed by 4-40 lowercase letters or digits`},
		{"started size string", TypeCopyStarted, `{` + id + `,"size_gb":"40"}`, "data.size_gb", "must be a number, got string"},
		{"started size fraction", TypeCopyStarted, `{` + id + `,"size_gb":40.5}`, "data.size_gb", "must be a whole number, got 40.5"},
		{"started size negative", TypeCopyStarted, `{` + id + `,"size_gb":-1}`, "data.size_gb", "must be between 0 and 1048576, got -1"},
		{"started size huge", TypeCopyStarted, `{` + id + `,"size_gb":1e300}`, "data.size_gb", "must be between 0 and 1048576, got 1e+300"},
		{"started name too long", TypeCopyStarted, `{` + id + `,"name":"` + strings.Repeat("n", 129) + `"}`, "data.name", "is 129 bytes long, over the limit of 128"},
		{"started tags array", TypeCopyStarted, `{` + id + `,"tags":["a"]}`, "data.tags", "must be an object, got array"},
		{"started tag bool", TypeCopyStarted, `{` + id + `,"tags":{"b":"x","a":true}}`, "data.tags.a", "tag value must be a string, got boolean"},
		{"started at bad", TypeCopyStarted, `{` + id + `,"started_at":"yesterday"}`, "data.started_at", `"yesterday" is not an RFC 3339 timestamp`},
		{"started rg", TypeCopyStarted, `{` + id + `,"resource_group_id":"rg-"}`, "data.resource_group_id", `"rg-" is not a resource group id: want rg- followed by 4-40 lowercase letters or digits`},
		{"started data dup", TypeCopyStarted, `{` + id + `,"region":"cn-hangzhou"}`, "data.region", "duplicate key"},

		{"finished wrong type", TypeCopyStarted, `{}`, "type", `"copy.started" is not "copy.finished"`},
		{"finished status missing", TypeCopyFinished, `{` + id + `}`, "data.status", "required field is missing"},
		{"finished status creating", TypeCopyFinished, `{` + id + `,"status":"Creating"}`, "data.status", `"Creating" is not a final status: want "Available" or "CreateFailed"`},
		{"finished status lower", TypeCopyFinished, `{` + id + `,"status":"available"}`, "data.status", `"available" is not a final status: want "Available" or "CreateFailed"`},
		{"finished status empty", TypeCopyFinished, `{` + id + `,"status":""}`, "data.status", "must not be empty"},
		{"finished region bad", TypeCopyFinished, `{"image_id":"m-abcd1234","region":"x","status":"Available"}`, "data.region",
			`"x" is not a region id: want lowercase letters, digits and hyphens like cn-hangzhou or ap-southeast-1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := inventory(t, tt.typ, tt.data, "")
			var err error
			if strings.HasPrefix(tt.name, "started") {
				_, err = DecodeCopyStarted(e)
			} else {
				_, err = DecodeCopyFinished(e)
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
	if _, err := DecodeCopyStarted(nil); err == nil {
		t.Error("DecodeCopyStarted(nil) succeeded")
	}
	if _, err := DecodeCopyFinished(nil); err == nil {
		t.Error("DecodeCopyFinished(nil) succeeded")
	}
}

func TestInventoryRoundTrip(t *testing.T) {
	start := CopyStarted{ImageID: "m-abcd1234", Region: "cn-hangzhou", SourceImageID: "m-efgh5678", SourceRegion: "us-west-1",
		SizeGB: 20, Name: "n", ResourceGroupID: "rg-abcd1234", Tags: map[string]string{"k": "v"},
		StartedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e, err := New(TypeCopyStarted, "ci", "x", "", time.Time{}, start)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeCopyStarted(e); err != nil || !reflect.DeepEqual(got, start) {
		t.Errorf("copy.started round trip: %#v, %v", got, err)
	}
	fin := CopyFinished{ImageID: "m-abcd1234", Region: "cn-hangzhou", Status: cloud.StatusCreateFailed}
	e, err = New(TypeCopyFinished, "ci", "y", "", time.Time{}, fin)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeCopyFinished(e); err != nil || got != fin {
		t.Errorf("copy.finished round trip: %#v, %v", got, err)
	}
}
