package ecssim

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCopyImageValidation(t *testing.T) {
	h := newHarness(t, Config{})
	src := h.s.AddImage(Image{Region: "cn-hangzhou", Name: "base"})
	inFlight := h.s.AddImage(Image{Region: "cn-hangzhou", IsCopied: true})
	tests := []struct {
		name, region string
		kv           []string
		status       int
		code         string
	}{
		{"ok", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-beijing"}, 200, ""},
		{"missing image", "cn-hangzhou", []string{"DestinationRegionId", "cn-beijing"}, 400, CodeMissingParameter},
		{"missing destination", "cn-hangzhou", []string{"ImageId", src}, 400, CodeMissingParameter},
		{"unknown source region", "mars-1", []string{"ImageId", src, "DestinationRegionId", "cn-beijing"}, 404, CodeInvalidRegion},
		{"unknown destination", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "mars-1"}, 400, CodeDestinationNotFound},
		{"same region", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-hangzhou"}, 403, CodeIncorrectDestination},
		{"unknown image", "cn-hangzhou", []string{"ImageId", "m-none", "DestinationRegionId", "cn-beijing"}, 404, CodeInvalidImage},
		{"source not available", "cn-hangzhou", []string{"ImageId", inFlight, "DestinationRegionId", "cn-beijing"}, 400, CodeIncorrectImageStatus},
		{"bad name", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-beijing", "DestinationImageName", "1abc"}, 400, CodeImageNameMalformed},
		{"name with url", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-beijing", "DestinationImageName", "ahttp://x"}, 400, CodeImageNameMalformed},
		{"aliyun prefix", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-beijing", "DestinationImageName", "aliyun-x"}, 400, CodeImageNameMalformed},
		{"bad description", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-beijing", "DestinationDescription", "https://x"}, 400, CodeDescriptionMalformed},
		{"kms without encryption", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-beijing", "KMSKeyId", "k"}, 400, CodeEncryptedIllegal},
		{"tag 21", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-beijing", "Tag.21.Key", "k"}, 400, CodeTagCount},
		{"tag value without key", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-beijing", "Tag.1.Value", "v"}, 400, CodeTagKeyMalformed},
		{"unknown params ignored", "cn-hangzhou", []string{"ImageId", src, "DestinationRegionId", "cn-beijing", "OwnerId", "1", "Bogus", "x"}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, m := h.call("CopyImage", tt.region, tt.kv...)
			if status != tt.status || code(m) != tt.code {
				t.Fatalf("got %d %v, want %d %s", status, m, tt.status, tt.code)
			}
		})
	}
}

func TestCopyImageCreatesCopy(t *testing.T) {
	h := newHarness(t, Config{})
	src := h.s.AddImage(Image{Region: "cn-hangzhou", Name: "base", SizeGB: 20,
		WaitFor: time.Minute, CopyTime: 4 * time.Minute})
	status, m := h.call("CopyImage", "cn-hangzhou", "ImageId", src, "DestinationRegionId", "eu-central-1",
		"DestinationImageName", "copy-1", "DestinationDescription", "for eu", "ResourceGroupId", "rg-1",
		"Tag.1.Key", "team", "Tag.1.Value", "infra", "Tag.2.Key", "empty")
	if status != 200 {
		t.Fatalf("%d %v", status, m)
	}
	id, _ := m["ImageId"].(string)
	if !strings.HasPrefix(id, "m-gw") || len(id) != 22 {
		t.Fatalf("copy id %q does not look like an eu-central-1 image id", id)
	}
	got, ok := h.s.Image("eu-central-1", id)
	if !ok {
		t.Fatal("copy not in destination region")
	}
	want := Image{ID: id, Region: "eu-central-1", Name: "copy-1", Description: "for eu", ResourceGroupID: "rg-1",
		OwnerAlias: "self", Status: StatusWaiting, IsCopied: true, SourceImageID: src, SourceRegion: "cn-hangzhou",
		SizeGB: 20, Created: epoch, WaitFor: time.Minute, CopyTime: 4 * time.Minute}
	if got.Tags["team"] != "infra" || got.Tags["empty"] != "" || len(got.Tags) != 2 {
		t.Fatalf("tags %v", got.Tags)
	}
	got.Tags = nil
	if !equalImage(got, want) {
		t.Fatalf("copy\n got %+v\nwant %+v", got, want)
	}
	if _, ok := h.s.Image("cn-hangzhou", id); ok {
		t.Fatal("copy must not appear in the source region")
	}
}

func equalImage(a, b Image) bool {
	a.Tags, b.Tags = nil, nil
	return a.ID == b.ID && a.Region == b.Region && a.Name == b.Name && a.Description == b.Description &&
		a.ResourceGroupID == b.ResourceGroupID && a.OwnerAlias == b.OwnerAlias && a.Status == b.Status &&
		a.Progress == b.Progress && a.IsCopied == b.IsCopied && a.SourceImageID == b.SourceImageID &&
		a.SourceRegion == b.SourceRegion && a.SizeGB == b.SizeGB && a.Created.Equal(b.Created) &&
		a.WaitFor == b.WaitFor && a.CopyTime == b.CopyTime && a.Fail == b.Fail
}

func TestCopyStateMachine(t *testing.T) {
	type step struct {
		at       time.Duration // since the copy started
		status   string
		progress int
	}
	tests := []struct {
		name  string
		cfg   Config
		img   Image
		steps []step
	}{
		{"defaults per size", Config{}, Image{SizeGB: 2}, []step{
			{0, StatusWaiting, 0},
			{DefaultWaitFor - 1, StatusWaiting, 0},
			{DefaultWaitFor, StatusCreating, 0},
			{DefaultWaitFor + 15*time.Second, StatusCreating, 50},
			{DefaultWaitFor + 30*time.Second - 1, StatusCreating, 99},
			{DefaultWaitFor + 30*time.Second, StatusAvailable, 100},
		}},
		{"server timing", Config{WaitFor: 10 * time.Second, CopyTime: 100 * time.Second}, Image{}, []step{
			{5 * time.Second, StatusWaiting, 0},
			{10 * time.Second, StatusCreating, 0},
			{47 * time.Second, StatusCreating, 37},
			{110 * time.Second, StatusAvailable, 100},
			{10 * time.Hour, StatusAvailable, 100},
		}},
		{"per-image timing wins", Config{WaitFor: time.Hour, CopyTime: time.Hour}, Image{WaitFor: time.Second, CopyTime: 4 * time.Second}, []step{
			{0, StatusWaiting, 0},
			{2 * time.Second, StatusCreating, 25},
			{5 * time.Second, StatusAvailable, 100},
		}},
		{"failing copy", Config{WaitFor: time.Second, CopyTime: 10 * time.Second}, Image{Fail: true}, []step{
			{time.Second, StatusCreating, 0},
			{5*time.Second + time.Second - 1, StatusCreating, 49},
			{6 * time.Second, StatusCreateFailed, 50},
			{time.Hour, StatusCreateFailed, 50},
		}},
		{"fixed status", Config{}, Image{Status: StatusCreating, Progress: 42}, []step{
			{0, StatusCreating, 42},
			{time.Hour, StatusCreating, 42},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			tt.img.Region, tt.img.IsCopied = "cn-hangzhou", true
			id := h.s.AddImage(tt.img)
			start := h.clock.Now()
			for _, st := range tt.steps {
				h.clock.Set(start.Add(st.at))
				img, ok := h.s.Image("cn-hangzhou", id)
				if !ok || img.Status != st.status || img.Progress != st.progress {
					t.Fatalf("at +%v: %s %d%%, want %s %d%%", st.at, img.Status, img.Progress, st.status, st.progress)
				}
				_, m := h.call("DescribeImages", "cn-hangzhou", "ImageId", id, "Status", st.status)
				list := images(t, m)
				if len(list) != 1 || list[0]["Progress"] != strconv.Itoa(st.progress)+"%" {
					t.Fatalf("at +%v: DescribeImages %v", st.at, m)
				}
			}
		})
	}
}

func TestSeed(t *testing.T) {
	h := newHarness(t, Config{Regions: []string{"r-1", "r-2"}})
	if _, err := h.s.Seed(Image{Region: "cn-hangzhou"}); err == nil {
		t.Error("unknown region accepted")
	}
	if _, err := h.s.Seed(Image{Region: "r-1", OwnerAlias: "nobody"}); err == nil {
		t.Error("bad owner alias accepted")
	}
	if _, err := h.s.Seed(Image{Region: "r-1", Progress: 101}); err == nil {
		t.Error("progress 101 accepted")
	}
	id, err := h.s.Seed(Image{Region: "r-1", ID: "m-fixed"})
	if err != nil || id != "m-fixed" {
		t.Fatalf("seed with id: %q %v", id, err)
	}
	if _, err := h.s.Seed(Image{Region: "r-1", ID: "m-fixed"}); err == nil {
		t.Error("duplicate id accepted")
	}
	if _, err := h.s.Seed(Image{Region: "r-2", ID: "m-fixed"}); err != nil {
		t.Errorf("same id in another region: %v", err)
	}
	img, _ := h.s.Image("r-1", "m-fixed")
	if img.SizeGB != DefaultSizeGB || img.OwnerAlias != "self" || !img.Created.Equal(epoch) || img.Status != StatusAvailable || img.Progress != 100 {
		t.Errorf("defaults: %+v", img)
	}
	if got := h.s.Regions(); len(got) != 2 || got[0] != "r-1" {
		t.Errorf("Regions() = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("AddImage did not panic on a bad image")
		}
	}()
	h.s.AddImage(Image{Region: "nowhere"})
}

func TestDemoCopies(t *testing.T) {
	h := newHarness(t, Config{})
	got := h.s.AddDemoCopies(30)
	if len(got) != 30 {
		t.Fatalf("%d copies", len(got))
	}
	for _, id := range got {
		found := false
		for _, r := range h.s.Regions() {
			if img, ok := h.s.Image(r, id); ok {
				found = true
				if img.Status != StatusWaiting && img.Status != StatusCreating {
					t.Errorf("demo copy %s is %s, want in flight", id, img.Status)
				}
			}
		}
		if !found {
			t.Errorf("demo copy %s not found", id)
		}
	}
	if one := newHarness(t, Config{Regions: []string{"only"}}); one.s.AddDemoCopies(3) != nil {
		t.Error("demo copies need two regions")
	}
}
