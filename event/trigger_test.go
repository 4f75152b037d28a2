package event

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// trigger builds a decoded event of type typ with the given data.
func trigger(t testing.TB, typ, data string) *Event {
	t.Helper()
	body := `{"specversion":"1.0","id":"t-1","source":"test","type":` + quote(typ) + `,"data":` + data + `}`
	e, err := Decode([]byte(body), 0)
	if err != nil {
		t.Fatalf("Decode(%s): %v", body, err)
	}
	return e
}

func quote(s string) string { return `"` + s + `"` }

func TestValidTriggerType(t *testing.T) {
	valid := []string{
		"budget.exceeded", "region.quarantined", "a", "my-team.deploy_freeze.v2", "0.1", strings.Repeat("a", 100),
	}
	invalid := []string{
		"", ".a", "a.", "a..b", "a.*", ">", "a.>", "Budget.Exceeded", "a b", "a/b", "a\tb", "é", strings.Repeat("a", 101),
	}
	for _, s := range valid {
		if !ValidTriggerType(s) {
			t.Errorf("ValidTriggerType(%q) = false, want true", s)
		}
	}
	for _, s := range invalid {
		if ValidTriggerType(s) {
			t.Errorf("ValidTriggerType(%q) = true, want false", s)
		}
	}
}

func TestDecodeTriggerBuiltIn(t *testing.T) {
	until := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		typ, data string
		want      any
	}{
		{TypeBudgetExceeded,
			`{"budget":"team-a-monthly","scope":{"tags":{"cost-center":"cc-42"},"resource_group_id":"rg-acfmxazb4ph6aiy"},` +
				`"limit":1000,"actual":1234.5,"currency":"CNY","percent":123.45,"future_field":{"x":1}}`,
			BudgetExceeded{Budget: "team-a-monthly", Scope: BudgetScope{Tags: map[string]string{"cost-center": "cc-42"},
				ResourceGroupID: "rg-acfmxazb4ph6aiy"}, Limit: 1000, Actual: 1234.5, Currency: "CNY", Percent: 123.45}},
		{TypeBudgetExceeded, `{"budget":"b","percent":100}`, BudgetExceeded{Budget: "b", Percent: 100}},
		{TypeBudgetExceeded, `{"budget":"b","percent":0,"scope":null,"limit":null}`, BudgetExceeded{Budget: "b"}},
		{TypeRegionQuarantined, `{"region":"ap-southeast-1","reason":"incident 42","incident":"INC-42","until":"2026-06-01T00:00:00Z"}`,
			RegionQuarantined{Region: "ap-southeast-1", Reason: "incident 42", Incident: "INC-42", Until: &until}},
		{TypeRegionQuarantined, `{"region":"cn-north-2-gov-1","reason":"r","until":null}`,
			RegionQuarantined{Region: "cn-north-2-gov-1", Reason: "r"}},
		{TypeRegionReleased, `{"region":"us-west-1","incident":"INC-42"}`, RegionReleased{Region: "us-west-1", Incident: "INC-42"}},
		{TypeCancelRequested, `{"image_id":"m-bp1g6zv0ce8oghu7k2tq","region":"cn-hangzhou","reason":"wrong image","requested_by":"alice"}`,
			CancelRequested{ImageID: "m-bp1g6zv0ce8oghu7k2tq", Region: "cn-hangzhou", Reason: "wrong image", RequestedBy: "alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			data, typed, err := DecodeTrigger(trigger(t, tt.typ, tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(typed, tt.want) {
				t.Errorf("typed =\n%#v\nwant\n%#v", typed, tt.want)
			}
			if data == nil {
				t.Error("no generic data")
			}
		})
	}
}

func TestDecodeTriggerGenericData(t *testing.T) {
	e := trigger(t, "team.deploy-freeze", `{"n":3,"f":-2.5e3,"big":9007199254740991,"exact":100000000000000000000,"pow":-18446744073709551616,"js":18446744073709552000,"s":"x","b":true,"z":null,`+
		`"list":[1,"a",{"k":[]}],"obj":{"env":"prod","Odd Key":1}}`)
	data, typed, err := DecodeTrigger(e)
	if err != nil {
		t.Fatal(err)
	}
	if typed != nil {
		t.Errorf("typed = %#v, want nil for a user type", typed)
	}
	want := map[string]any{
		"n": 3.0, "f": -2500.0, "big": 9007199254740991.0, "exact": 1e20, "pow": -18446744073709551616.0, "js": 18446744073709551616.0, "s": "x", "b": true, "z": nil,
		"list": []any{1.0, "a", map[string]any{"k": []any{}}},
		"obj":  map[string]any{"env": "prod", "Odd Key": 1.0},
	}
	if !reflect.DeepEqual(data, want) {
		t.Errorf("data =\n%#v\nwant\n%#v", data, want)
	}
	// Built-in types expose their unknown fields to policies too.
	data, _, err = DecodeTrigger(trigger(t, TypeRegionReleased, `{"region":"us-west-1","extra":[1]}`))
	if err != nil || !reflect.DeepEqual(data["extra"], []any{1.0}) {
		t.Errorf("extra field: %v, %#v", err, data)
	}
}

func TestDecodeTriggerRejects(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxDataDepth+1) + `1` + strings.Repeat(`}`, MaxDataDepth+1)
	tests := []struct {
		name, typ, data string
		field, reason   string
	}{
		{"inventory type", TypeCopyStarted, `{}`, "type", `"copy.started" is an inventory event, not a trigger`},
		{"wildcard type", "budget.*", `{}`, "type", `"budget.*" is not a valid trigger type: want dot-separated tokens of a-z, 0-9, _ and -, at most 100 characters`},
		{"upper case type", "Budget", `{}`, "type", `"Budget" is not a valid trigger type: want dot-separated tokens of a-z, 0-9, _ and -, at most 100 characters`},
		{"duplicate nested key", "x", `{"a":{"b":1,"b":2}}`, "data.a.b", "duplicate key"},
		{"duplicate key in array", "x", `{"a":[{"b":1,"b":2}]}`, "data.a[0].b", "duplicate key"},
		{"duplicate odd key", "x", `{"a b":1,"a b":2}`, `data["a b"]`, "duplicate key"},
		{"too deep", "x", deep, "data" + strings.Repeat(".a", MaxDataDepth), "nested deeper than 32 levels"},
		{"inexact integer", "x", `{"id":9007199254740993}`, "data.id", "integer 9007199254740993 cannot be represented exactly as a number in policies; send it as a string"},
		{"negative inexact integer", "x", `{"id":-18446744073709551617}`, "data.id", "integer -18446744073709551617 cannot be represented exactly as a number in policies; send it as a string"},
		{"number out of range", "x", `{"a":[1e400]}`, "data.a[0]", "number 1e400 is out of range"},

		{"budget missing", TypeBudgetExceeded, `{"percent":100}`, "data.budget", "required field is missing"},
		{"budget null", TypeBudgetExceeded, `{"budget":null,"percent":100}`, "data.budget", "required field is missing"},
		{"budget empty", TypeBudgetExceeded, `{"budget":"","percent":100}`, "data.budget", "must not be empty"},
		{"budget number", TypeBudgetExceeded, `{"budget":7,"percent":100}`, "data.budget", "must be a string, got number"},
		{"percent missing", TypeBudgetExceeded, `{"budget":"b"}`, "data.percent", "required field is missing"},
		{"percent string", TypeBudgetExceeded, `{"budget":"b","percent":"120"}`, "data.percent", "must be a number, got string"},
		{"percent negative", TypeBudgetExceeded, `{"budget":"b","percent":-1}`, "data.percent", "must not be negative, got -1"},
		{"limit negative", TypeBudgetExceeded, `{"budget":"b","percent":1,"limit":-5}`, "data.limit", "must not be negative, got -5"},
		{"actual boolean", TypeBudgetExceeded, `{"budget":"b","percent":1,"actual":true}`, "data.actual", "must be a number, got boolean"},
		{"scope array", TypeBudgetExceeded, `{"budget":"b","percent":1,"scope":[]}`, "data.scope", "must be an object, got array"},
		{"tags string", TypeBudgetExceeded, `{"budget":"b","percent":1,"scope":{"tags":"cc=1"}}`, "data.scope.tags", "must be an object, got string"},
		{"tag value number", TypeBudgetExceeded, `{"budget":"b","percent":1,"scope":{"tags":{"cc":42}}}`, "data.scope.tags.cc", "tag value must be a string, got number"},
		{"tag key empty", TypeBudgetExceeded, `{"budget":"b","percent":1,"scope":{"tags":{"":"x"}}}`, "data.scope.tags", "has an empty tag key"},
		{"tag value too long", TypeBudgetExceeded, `{"budget":"b","percent":1,"scope":{"tags":{"k":"` + strings.Repeat("é", 129) + `"}}}`, "data.scope.tags.k", "tag value is 129 characters long, over the limit of 128"},
		{"resource group number", TypeBudgetExceeded, `{"budget":"b","percent":1,"scope":{"resource_group_id":1}}`, "data.scope.resource_group_id", "must be a string, got number"},
		{"resource group format", TypeBudgetExceeded, `{"budget":"b","percent":1,"scope":{"resource_group_id":"default"}}`, "data.scope.resource_group_id", `"default" is not a resource group id: want rg- followed by 4-40 lowercase letters or digits`},
		{"currency", TypeBudgetExceeded, `{"budget":"b","percent":1,"currency":"yuan"}`, "data.currency", `"yuan" is not a currency code: want three capital letters like CNY or USD`},

		{"region missing", TypeRegionQuarantined, `{"reason":"r"}`, "data.region", "required field is missing"},
		{"region upper case", TypeRegionQuarantined, `{"region":"CN-HANGZHOU","reason":"r"}`, "data.region", `"CN-HANGZHOU" is not a region id: want lowercase letters, digits and hyphens like cn-hangzhou or ap-southeast-1`},
		{"region one part", TypeRegionQuarantined, `{"region":"hangzhou","reason":"r"}`, "data.region", `"hangzhou" is not a region id: want lowercase letters, digits and hyphens like cn-hangzhou or ap-southeast-1`},
		{"region wildcard", TypeRegionQuarantined, `{"region":"cn-*","reason":"r"}`, "data.region", `"cn-*" is not a region id: want lowercase letters, digits and hyphens like cn-hangzhou or ap-southeast-1`},
		{"region number", TypeRegionQuarantined, `{"region":1,"reason":"r"}`, "data.region", "must be a string, got number"},
		{"reason missing", TypeRegionQuarantined, `{"region":"cn-hangzhou"}`, "data.reason", "required field is missing"},
		{"reason control", TypeRegionQuarantined, `{"region":"cn-hangzhou","reason":"a\u001b[31m"}`, "data.reason", "contains a control character at byte 1"},
		{"until not a time", TypeRegionQuarantined, `{"region":"cn-hangzhou","reason":"r","until":"tomorrow"}`, "data.until", `"tomorrow" is not an RFC 3339 timestamp`},
		{"until number", TypeRegionQuarantined, `{"region":"cn-hangzhou","reason":"r","until":1767322800}`, "data.until", "must be a string, got number"},
		{"released region", TypeRegionReleased, `{"region":"cn_hangzhou"}`, "data.region", `"cn_hangzhou" is not a region id: want lowercase letters, digits and hyphens like cn-hangzhou or ap-southeast-1`},
		{"released incident", TypeRegionReleased, `{"region":"cn-hangzhou","incident":5}`, "data.incident", "must be a string, got number"},

		{"cancel image masked", TypeCancelRequested, `{"image_id":"m-bp1g6zv0ce8oghu7k***","region":"cn-hangzhou","reason":"r"}`, "data.image_id", `"m-bp1g6zv0ce8oghu7k***" is not a custom image id: want m- followed by 4-40 lowercase letters or digits`},
		{"cancel public image", TypeCancelRequested, `{"image_id":"ubuntu_22_04_x64_20G_alibase_20230208.vhd","region":"cn-hangzhou","reason":"r"}`, "data.image_id", `"ubuntu_22_04_x64_20G_alibase_20230208.vhd" is not a custom image id: want m- followed by 4-40 lowercase letters or digits`},
		{"cancel image missing", TypeCancelRequested, `{"region":"cn-hangzhou","reason":"r"}`, "data.image_id", "required field is missing"},
		{"cancel image number", TypeCancelRequested, `{"image_id":12,"region":"cn-hangzhou","reason":"r"}`, "data.image_id", "must be a string, got number"},
		{"cancel region missing", TypeCancelRequested, `{"image_id":"m-bp1g6zv0ce8oghu7k2tq","reason":"r"}`, "data.region", "required field is missing"},
		{"cancel reason empty", TypeCancelRequested, `{"image_id":"m-bp1g6zv0ce8oghu7k2tq","region":"cn-hangzhou","reason":""}`, "data.reason", "must not be empty"},
		{"cancel requested_by array", TypeCancelRequested, `{"image_id":"m-bp1g6zv0ce8oghu7k2tq","region":"cn-hangzhou","reason":"r","requested_by":[]}`, "data.requested_by", "must be a string, got array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, typed, err := DecodeTrigger(trigger(t, tt.typ, tt.data))
			if err == nil {
				t.Fatalf("DecodeTrigger = %#v, %#v; want error %q", data, typed, tt.reason)
			}
			if data != nil || typed != nil {
				t.Error("DecodeTrigger returned data with its error")
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
	if _, _, err := DecodeTrigger(nil); err == nil {
		t.Error("DecodeTrigger(nil) succeeded")
	}
}

func TestRegionAndImageFormats(t *testing.T) {
	regions := []string{
		"cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-zhangjiakou", "cn-hongkong", "ap-southeast-1", "ap-northeast-2",
		"us-west-1", "us-east-1", "eu-central-1", "me-central-1", "na-south-1", "cn-shanghai-finance-1",
		"cn-north-2-gov-1", "cn-hangzhou-finance", "cn-shanghai-et15-b01", "cn-huhehaote-nebula-1",
	}
	for _, r := range regions {
		if err := checkRegion("region", r, true); err != nil {
			t.Errorf("region %q: %v", r, err)
		}
	}
	notRegions := []string{"cn", "cn-", "-cn", "cn--hangzhou", "cn-hangzhou-", "c-hangzhou", "cn hangzhou", "cn-hangzhou\n",
		"cn-a-b-c-d-e-f", "cn.hangzhou", "中国-杭州", strings.Repeat("a", 8) + "-" + strings.Repeat("b", 17)}
	for _, r := range notRegions {
		if err := checkRegion("region", r, true); err == nil {
			t.Errorf("region %q accepted", r)
		}
	}
	images := []string{"m-bp1g6zv0ce8oghu7k2tq", "m-2zeggz4i4n2z510ajcvw", "m-282dzntc7", "m-t4n2ii9lnhhwq3dmsvrz", "m-abcd"}
	for _, id := range images {
		if err := checkImageID("image_id", id, true); err != nil {
			t.Errorf("image id %q: %v", id, err)
		}
	}
	notImages := []string{"m-", "m-abc", "M-bp1g6zv0ce8oghu7k2tq", "m-BP1G6ZV0CE", "i-bp1g6zv0ce8oghu7k2tq", "m-bp1_g6zv0",
		"m-bp1g6zv0ce8oghu7k***", "m-" + strings.Repeat("a", 41), " m-bp1g6zv0ce8"}
	for _, id := range notImages {
		if err := checkImageID("image_id", id, true); err == nil {
			t.Errorf("image id %q accepted", id)
		}
	}
}

func TestPayloadValidateInGo(t *testing.T) {
	zero := time.Time{}
	tests := []struct {
		name string
		p    interface{ Validate() error }
		want string
	}{
		{"budget empty", BudgetExceeded{Percent: 1}, "data.budget: must not be empty"},
		{"budget nan", BudgetExceeded{Budget: "b", Percent: nan()}, "data.percent: must be a finite number"},
		{"quarantine zero until", RegionQuarantined{Region: "cn-hangzhou", Reason: "r", Until: &zero}, "data.until: must not be the zero time"},
		{"released empty", RegionReleased{}, "data.region: must not be empty"},
		{"cancel empty", CancelRequested{}, "data.image_id: must not be empty"},
		{"too many tags", BudgetExceeded{Budget: "b", Scope: BudgetScope{Tags: manyTags(65)}}, "data.scope.tags: has 65 tags, over the limit of 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); err == nil || err.Error() != tt.want {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
	ok := []interface{ Validate() error }{
		BudgetExceeded{Budget: "b"},
		RegionQuarantined{Region: "cn-hangzhou", Reason: "r"},
		RegionReleased{Region: "cn-hangzhou"},
		CancelRequested{ImageID: "m-abcd1234", Region: "cn-hangzhou", Reason: "r"},
	}
	for _, p := range ok {
		if err := p.Validate(); err != nil {
			t.Errorf("%T.Validate = %v (a nil *Error must be a nil error)", p, err)
		}
	}
}

// TestTypedRoundTrip checks that a payload built in Go, sent with New and
// read back, is the same payload: the JSON names of the Go types and the
// names the decoder reads agree.
func TestTypedRoundTrip(t *testing.T) {
	until := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	payloads := map[string]any{
		TypeBudgetExceeded: BudgetExceeded{Budget: "b", Scope: BudgetScope{Tags: map[string]string{"a": "b"}, ResourceGroupID: "rg-abcd1234"},
			Limit: 10, Actual: 12.5, Currency: "USD", Percent: 125},
		TypeRegionQuarantined: RegionQuarantined{Region: "eu-central-1", Reason: "r", Incident: "i", Until: &until},
		TypeRegionReleased:    RegionReleased{Region: "eu-central-1", Incident: "i"},
		TypeCancelRequested:   CancelRequested{ImageID: "m-abcd1234", Region: "eu-central-1", Reason: "r", RequestedBy: "bob"},
	}
	for typ, p := range payloads {
		e, err := New(typ, "test", "id", "", time.Now(), p)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, typed, err := DecodeTrigger(d)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !reflect.DeepEqual(typed, p) {
			t.Errorf("%s round trip:\n%#v\nwant\n%#v", typ, typed, p)
		}
	}
}

func TestCheckSubject(t *testing.T) {
	ev := func(typ string) *Event { return &Event{Type: typ} }
	tests := []struct {
		name, typ, subject, prefix, want string
	}{
		{"trigger", "budget.exceeded", "copyguard.trigger.budget.exceeded", "", ""},
		{"user trigger", "team.freeze", "acme.trigger.team.freeze", "acme", ""},
		{"started", TypeCopyStarted, "copyguard.copy.started", "copyguard", ""},
		{"finished", TypeCopyFinished, "copyguard.copy.finished", "", ""},
		{"type mismatch", "region.quarantined", "copyguard.trigger.budget.exceeded", "",
			`type: "region.quarantined" does not match subject "copyguard.trigger.budget.exceeded", which carries type "budget.exceeded"`},
		{"inventory on wrong subject", TypeCopyStarted, "copyguard.copy.finished", "",
			`type: "copy.started" does not match subject "copyguard.copy.finished", which carries type "copy.finished"`},
		{"other prefix", "budget.exceeded", "other.trigger.budget.exceeded", "",
			`subject "other.trigger.budget.exceeded" is not an input subject: want copyguard.trigger.<type>, copyguard.copy.started or copyguard.copy.finished`},
		{"output subject", TypeResult, "copyguard.result.cancelled", "",
			`subject "copyguard.result.cancelled" is not an input subject: want copyguard.trigger.<type>, copyguard.copy.started or copyguard.copy.finished`},
		{"empty trigger type", "", "copyguard.trigger.", "",
			`subject "copyguard.trigger." does not end in a valid trigger type`},
		{"wildcard subject", "a.*", "copyguard.trigger.a.*", "",
			`subject "copyguard.trigger.a.*" does not end in a valid trigger type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSubject(ev(tt.typ), tt.subject, tt.prefix)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CheckSubject = %q, want %q", got, tt.want)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

func manyTags(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[strings.Repeat("k", i+1)] = "v"
	}
	return m
}
