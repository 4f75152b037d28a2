package ecssim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDescribeImagesFilters(t *testing.T) {
	h := newHarness(t, Config{WaitFor: time.Minute, CopyTime: 10 * time.Minute})
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	seed := func(img Image) string {
		if img.Region == "" {
			img.Region = "cn-hangzhou"
		}
		return h.s.AddImage(img)
	}
	base := seed(Image{ID: "m-base", Name: "base", Created: at(-48 * time.Hour)})
	sys := seed(Image{ID: "m-sys", OwnerAlias: "system", Created: at(-47 * time.Hour)})
	market := seed(Image{ID: "m-market", OwnerAlias: "marketplace", Created: at(-46 * time.Hour)})
	waiting := seed(Image{ID: "m-wait", IsCopied: true, Created: at(0), Tags: map[string]string{"team": "a", "env": "prod"}})
	creating := seed(Image{ID: "m-create", IsCopied: true, Created: at(-5 * time.Minute), Tags: map[string]string{"team": "b"}, ResourceGroupID: "rg-1"})
	done := seed(Image{ID: "m-done", IsCopied: true, Created: at(-time.Hour), Tags: map[string]string{"team": "a"}})
	failed := seed(Image{ID: "m-fail", IsCopied: true, Created: at(-time.Hour + time.Second), Fail: true})
	seed(Image{ID: "m-other-region", Region: "cn-beijing", IsCopied: true})

	tests := []struct {
		name string
		kv   []string
		want []string
	}{
		{"default is Available, self+system+others, oldest first", nil, []string{base, sys, done}},
		{"in flight", []string{"Status", "Waiting,Creating"}, []string{creating, waiting}},
		{"status list with spaces and case", []string{"Status", "creating, CreateFailed"}, []string{failed, creating}},
		{"owner self", []string{"ImageOwnerAlias", "self", "Status", "Available"}, []string{base, done}},
		{"owner marketplace", []string{"ImageOwnerAlias", "marketplace"}, []string{market}},
		{"image id list", []string{"ImageId", "m-wait,m-done,m-nope", "Status", "Waiting,Available"}, []string{done, waiting}},
		{"image id needs status too", []string{"ImageId", waiting}, nil},
		{"tag key and value", []string{"Status", "Waiting,Creating,Available", "Tag.1.Key", "team", "Tag.1.Value", "a"}, []string{done, waiting}},
		{"two tags", []string{"Status", "Waiting,Available", "Tag.1.Key", "team", "Tag.1.Value", "a", "Tag.2.Key", "env", "Tag.2.Value", "prod"}, []string{waiting}},
		{"tag key only", []string{"Status", "Waiting,Creating", "Tag.1.Key", "team"}, []string{creating, waiting}},
		{"resource group", []string{"Status", "Waiting,Creating", "ResourceGroupId", "rg-1"}, []string{creating}},
		{"name", []string{"ImageName", "base"}, []string{base}},
		{"creation window", []string{"Status", "Waiting,Creating,Available,CreateFailed", "Filter.1.Key", "CreationStartTime",
			"Filter.1.Value", at(-10 * time.Minute).Format("2006-01-02T15:04Z"), "Filter.2.Key", "CreationEndTime", "Filter.2.Value", at(-time.Minute).Format("2006-01-02T15:04Z")}, []string{creating}},
		{"unknown params ignored", []string{"IsCopied", "true", "OSType", "windows", "DryRun", "false"}, []string{base, sys, done}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, m := h.call("DescribeImages", "cn-hangzhou", tt.kv...)
			if status != 200 {
				t.Fatalf("%d %v", status, m)
			}
			if got := ids(t, m); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if m["TotalCount"] != float64(len(tt.want)) || m["RegionId"] != "cn-hangzhou" {
				t.Fatalf("TotalCount/RegionId: %v", m)
			}
		})
	}
}

func TestDescribeImagesErrors(t *testing.T) {
	h := newHarness(t, Config{})
	tests := []struct {
		name, region string
		kv           []string
		status       int
		code         string
	}{
		{"unknown region", "mars-1", nil, 404, CodeInvalidRegion},
		{"missing region", "", nil, 400, CodeMissingParameter},
		{"bad owner alias", "cn-hangzhou", []string{"ImageOwnerAlias", "me"}, 400, CodeOwnerAliasNotSupported},
		{"page size 101", "cn-hangzhou", []string{"PageSize", "101"}, 400, CodeInvalidParameter},
		{"page size 0", "cn-hangzhou", []string{"PageSize", "0"}, 400, CodeInvalidParameter},
		{"page number 0", "cn-hangzhou", []string{"PageNumber", "0"}, 400, CodeInvalidParameter},
		{"page number text", "cn-hangzhou", []string{"PageNumber", "two"}, 400, CodeInvalidParameter},
		{"filter key", "cn-hangzhou", []string{"Filter.1.Key", "Color", "Filter.1.Value", "2026-01-01T00:00Z"}, 404, CodeFilterKeyNotFound},
		{"filter value", "cn-hangzhou", []string{"Filter.1.Key", "CreationStartTime", "Filter.1.Value", "soon"}, 400, CodeInvalidParameter},
		{"tag 0", "cn-hangzhou", []string{"Tag.0.Key", "k"}, 400, CodeTagCount},
		{"bad version", "cn-hangzhou", []string{"Version", "2016-03-14"}, 400, CodeInvalidVersion},
		{"xml", "cn-hangzhou", []string{"Format", "XML"}, 400, CodeInvalidParameter},
		{"unknown action", "cn-hangzhou", []string{"Action", "DeleteImage"}, 404, CodeInvalidAction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, m := h.call("DescribeImages", tt.region, tt.kv...)
			if status != tt.status || code(m) != tt.code {
				t.Fatalf("got %d %v, want %d %s", status, m, tt.status, tt.code)
			}
		})
	}
}

func TestDescribeImagesPaging(t *testing.T) {
	h := newHarness(t, Config{})
	var all []string
	for i := range 25 {
		all = append(all, h.s.AddImage(Image{Region: "cn-shenzhen", IsCopied: true, Created: epoch.Add(time.Duration(i) * time.Second)}))
	}
	// Same creation time: seeding order decides.
	all = append(all, h.s.AddImage(Image{Region: "cn-shenzhen", IsCopied: true, Created: epoch.Add(24 * time.Second)}))
	tests := []struct {
		page, size string
		wantPage   float64
		wantSize   float64
		from, to   int
	}{
		{"", "", 1, 10, 0, 10},
		{"2", "", 2, 10, 10, 20},
		{"3", "", 3, 10, 20, 26},
		{"4", "", 4, 10, 26, 26},
		{"1", "100", 1, 100, 0, 26},
		{"2", "7", 2, 7, 7, 14},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("page %s size %s", tt.page, tt.size), func(t *testing.T) {
			kv := []string{"Status", "Waiting"}
			if tt.page != "" {
				kv = append(kv, "PageNumber", tt.page)
			}
			if tt.size != "" {
				kv = append(kv, "PageSize", tt.size)
			}
			_, m := h.call("DescribeImages", "cn-shenzhen", kv...)
			if got := ids(t, m); !slices.Equal(got, all[tt.from:tt.to]) {
				t.Fatalf("got %v, want %v", got, all[tt.from:tt.to])
			}
			if m["TotalCount"] != float64(26) || m["PageNumber"] != tt.wantPage || m["PageSize"] != tt.wantSize {
				t.Fatalf("counts: %v %v %v", m["TotalCount"], m["PageNumber"], m["PageSize"])
			}
		})
	}
	// A cancel in the middle shifts later pages, and the sorted view
	// follows the deletion.
	h.call("CancelCopyImage", "cn-shenzhen", "ImageId", all[0])
	_, m := h.call("DescribeImages", "cn-shenzhen", "Status", "Waiting", "PageSize", "3")
	if got := ids(t, m); !slices.Equal(got, all[1:4]) || m["TotalCount"] != float64(25) {
		t.Fatalf("after cancel: %v total %v", got, m["TotalCount"])
	}
}

// TestDescribeImagesJSONShape pins the exact keys and JSON types the SDK's
// case-sensitive decoder expects (ecs-api.md §3).
func TestDescribeImagesJSONShape(t *testing.T) {
	h := newHarness(t, Config{WaitFor: time.Minute, CopyTime: 100 * time.Minute})
	id := h.s.AddImage(Image{Region: "cn-hangzhou", IsCopied: true, Name: "c1", SizeGB: 40,
		Created: epoch.Add(-time.Minute - 32*time.Minute), ResourceGroupID: "rg-9", Tags: map[string]string{"b": "2", "a": "1"}})
	w := h.send(h.sign(h.params("DescribeImages", "cn-hangzhou", "Status", "Creating")))
	var top map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	for k, kind := range map[string]byte{"RequestId": '"', "RegionId": '"', "TotalCount": '1', "PageNumber": '1', "PageSize": '1', "Images": '{'} {
		if v, ok := top[k]; !ok || !sameKind(v, kind) {
			t.Errorf("top-level %s = %s", k, v)
		}
	}
	var resp struct {
		Images struct{ Image []map[string]json.RawMessage }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Images.Image) != 1 {
		t.Fatalf("%v %s", err, w.Body)
	}
	im := resp.Images.Image[0]
	want := map[string]string{
		"ImageId": `"` + id + `"`, "ImageName": `"c1"`, "Status": `"Creating"`, "Progress": `"32%"`, "IsCopied": "true",
		"CreationTime": `"2026-03-01T11:27:00Z"`, "Size": "40", "ImageOwnerAlias": `"self"`, "ResourceGroupId": `"rg-9"`,
		"IsSelfShared": `""`, "IsPublic": "false", "ImageOwnerId": "1234567890123456",
		"Tags": `{"Tag":[{"TagKey":"a","TagValue":"1"},{"TagKey":"b","TagValue":"2"}]}`,
	}
	for k, v := range want {
		if got := string(im[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	var disks struct{ DiskDeviceMapping []map[string]json.RawMessage }
	if err := json.Unmarshal(im["DiskDeviceMappings"], &disks); err != nil || len(disks.DiskDeviceMapping) != 1 {
		t.Fatalf("disks: %v %s", err, im["DiskDeviceMappings"])
	}
	d := disks.DiskDeviceMapping[0]
	for k, v := range map[string]string{"Size": `"40"`, "Progress": `"32%"`, "RemainTime": "4080", "Encrypted": "false"} {
		if string(d[k]) != v {
			t.Errorf("disk %s = %s, want %s", k, d[k], v)
		}
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || w.Header().Get("x-acs-request-id") == "" {
		t.Errorf("headers %v", w.Header())
	}
}

func sameKind(v json.RawMessage, kind byte) bool {
	if len(v) == 0 {
		return false
	}
	if kind == '1' {
		return v[0] >= '0' && v[0] <= '9'
	}
	return v[0] == kind
}

func TestDescribeEmptyListIsArray(t *testing.T) {
	h := newHarness(t, Config{})
	w := h.send(h.sign(h.params("DescribeImages", "us-west-1")))
	if !strings.Contains(w.Body.String(), `"Images":{"Image":[]}`) {
		t.Fatalf("empty result must be an empty array: %s", w.Body)
	}
}

func TestDescribeOrderAfterChanges(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.s.AddImage(Image{Region: "cn-qingdao", ID: "m-a", Created: epoch.Add(-time.Hour)})
	b := h.s.AddImage(Image{Region: "cn-qingdao", ID: "m-b", Created: epoch.Add(-time.Minute)})
	list := func() []string {
		_, m := h.call("DescribeImages", "cn-qingdao")
		return ids(t, m)
	}
	if got := list(); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("%v", got)
	}
	backdated := h.s.AddImage(Image{Region: "cn-qingdao", ID: "m-old", Created: epoch.Add(-48 * time.Hour)})
	newest := h.s.AddImage(Image{Region: "cn-qingdao", ID: "m-new"})
	if got := list(); !slices.Equal(got, []string{backdated, a, b, newest}) {
		t.Fatalf("%v", got)
	}
	// Remove a copy and seed one with the same id later: it moves to its
	// new place instead of appearing twice.
	c := h.s.AddImage(Image{Region: "cn-qingdao", ID: "m-c", IsCopied: true, Status: StatusCreating})
	h.call("CancelCopyImage", "cn-qingdao", "ImageId", c)
	h.clock.Add(time.Minute)
	h.s.AddImage(Image{Region: "cn-qingdao", ID: "m-c"})
	if got := list(); !slices.Equal(got, []string{backdated, a, b, newest, "m-c"}) {
		t.Fatalf("%v", got)
	}
}

func TestErrorBodyText(t *testing.T) {
	h := newHarness(t, Config{})
	w := h.send(h.sign(h.params("CancelCopyImage", "cn-hangzhou", "ImageId", "m-none")))
	var e errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	want := "https://api.aliyun.com/troubleshoot?q=InvalidImageId.NotFound&product=Ecs&requestId=" + e.RequestId
	if e.Recommend != want || !strings.Contains(w.Body.String(), "&product=Ecs") || e.HostId != "ecs.cn-hangzhou.aliyuncs.com" {
		t.Fatalf("body %s", w.Body)
	}
	if len(e.RequestId) != 36 || strings.Count(e.RequestId, "-") != 4 || w.Header().Get("x-acs-request-id") != e.RequestId {
		t.Fatalf("request id %q", e.RequestId)
	}
}
