package ecs_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecs"
	"github.com/copyguard/copyguard/cloud/ecssim"
)

// TestListCopiesPaging seeds 265 copies in flight among images that must
// not be listed, so that the listing takes three pages of 100.
func TestListCopiesPaging(t *testing.T) {
	e := newEnv(t, nil)
	want := map[string]bool{}
	for i := range 265 {
		if i%2 == 0 {
			want[e.waiting(region)] = true
		} else {
			want[e.creating(region)] = true
		}
	}
	for range 30 {
		e.fixed(region, "Available", true)
	}
	for range 20 {
		e.fixed(region, "CreateFailed", true)
	}
	for range 15 { // in flight, but not copies (an image being made from a snapshot)
		e.fixed(region, "Creating", false)
	}
	for range 5 { // copies shared by another account
		e.sim.AddImage(ecssim.Image{Region: region, IsCopied: true, OwnerAlias: "others", WaitFor: time.Hour})
	}
	for range 10 {
		e.waiting(otherReg)
	}
	detailed := e.sim.AddImage(ecssim.Image{
		Region: region, IsCopied: true, Name: "nightly-copy", ResourceGroupID: "rg-42",
		SizeGB: 60, Tags: map[string]string{"team": "infra", "ttl": "7d"},
		Created: e.clock.Now().Add(-time.Hour), WaitFor: 30 * time.Minute, CopyTime: 2 * time.Hour,
	})
	want[detailed] = true

	copies, err := e.c.ListCopies(context.Background(), region)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range copies {
		if got[c.ImageID] {
			t.Errorf("%s listed twice", c.ImageID)
		}
		got[c.ImageID] = true
		if c.Region != region || !c.InFlight() {
			t.Errorf("copy %+v: want region %s and in flight", c, region)
		}
		if img, _ := e.sim.Image(region, c.ImageID); c.Status != img.Status || c.Progress != img.Progress {
			t.Errorf("copy %s: status %s progress %d, simulator says %s %d", c.ImageID, c.Status, c.Progress, img.Status, img.Progress)
		}
	}
	if len(got) != len(want) {
		t.Errorf("listed %d copies, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("copy %s not listed", id)
		}
	}
	// 281 images in flight and owned (266 copies, 15 not): three pages.
	if n := e.sim.TotalCalls("DescribeImages"); n != 3 {
		t.Errorf("DescribeImages called %d times, want 3", n)
	}
	i := slices.IndexFunc(copies, func(c cloud.Copy) bool { return c.ImageID == detailed })
	if i < 0 {
		t.Fatal("detailed copy missing")
	}
	d := copies[i]
	if d.Name != "nightly-copy" || d.ResourceGroupID != "rg-42" || d.SizeGB != 60 ||
		d.Status != cloud.StatusCreating || d.Progress != 25 ||
		!d.StartedAt.Equal(e.clock.Now().Add(-time.Hour)) ||
		!maps.Equal(d.Tags, map[string]string{"team": "infra", "ttl": "7d"}) {
		t.Errorf("detailed copy = %+v", d)
	}
}

func TestListCopiesEmptyAndFailing(t *testing.T) {
	e := newEnv(t, nil)
	copies, err := e.c.ListCopies(context.Background(), region)
	if err != nil || len(copies) != 0 {
		t.Fatalf("empty region: %v, %v", copies, err)
	}
	for range 250 {
		e.waiting(region)
	}
	// The clock stands still, so a bucket of two lets pages 1 and 2
	// through and throttles page 3.
	e.sim.SetFaults(ecssim.Faults{ThrottleQPS: 1, ThrottleBurst: 2})
	_, err = e.c.ListCopies(context.Background(), region)
	if !errors.Is(err, cloud.ErrThrottled) || classOf(err) != "retryable" {
		t.Fatalf("throttled listing: %v (class %s), want retryable ErrThrottled", err, classOf(err))
	}
	if want := "list copies in " + region + ": page 3: Throttling.User"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want prefix %q", err, want)
	}
	e.sim.SetFaults(ecssim.Faults{RawErrorRate: 1})
	if _, err := e.c.ListCopies(context.Background(), region); classOf(err) != "retryable" || !cloud.OutcomeUnknown(err) {
		t.Errorf("502 listing: %v, want retryable", err)
	}
}

func TestCopyImageRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	src := e.sim.AddImage(ecssim.Image{Region: region, Name: "golden", WaitFor: time.Hour, CopyTime: time.Hour})
	req := ecs.CopyRequest{
		SourceRegion: region, SourceImageID: src, DestinationRegion: otherReg,
		Name: "golden-copy", Description: "made by the round-trip test",
		Tags: map[string]string{"owner": "qa", "purpose": "demo"}, ResourceGroupID: "rg-7",
	}
	id, err := e.c.CopyImage(ctx, req)
	if err != nil || id == "" {
		t.Fatalf("CopyImage = %q, %v", id, err)
	}
	if img, ok := e.sim.Image(otherReg, id); !ok || img.SourceImageID != src || img.SourceRegion != region || !img.IsCopied {
		t.Errorf("simulator copy = %+v, %v", img, ok)
	}
	copies, err := e.c.ListCopies(ctx, otherReg)
	if err != nil || len(copies) != 1 {
		t.Fatalf("ListCopies(%s) = %v, %v", otherReg, copies, err)
	}
	c := copies[0]
	if c.ImageID != id || c.Region != otherReg || c.Name != "golden-copy" || c.ResourceGroupID != "rg-7" ||
		c.Status != cloud.StatusWaiting || !maps.Equal(c.Tags, req.Tags) || c.StartedAt.IsZero() {
		t.Errorf("listed copy = %+v", c)
	}
	if _, err := e.c.CancelCopy(ctx, otherReg, id); err != nil {
		t.Errorf("CancelCopy of the new copy: %v", err)
	}

	// CopyImage is not idempotent: a 500 must reach the API once only.
	e.sim.Script(src, ecssim.Answer{Status: 500, Code: "InternalError"})
	_, err = e.c.CopyImage(ctx, req)
	if classOf(err) != "retryable" || !cloud.OutcomeUnknown(err) {
		t.Errorf("CopyImage on a 500: %v, want retryable with unknown outcome", err)
	}
	if n := e.sim.Calls("CopyImage", src); n != 2 {
		t.Errorf("simulator saw %d CopyImage calls, want 2 (no SDK retries)", n)
	}
}

func TestCopyImageErrors(t *testing.T) {
	e := newEnv(t, nil)
	src := e.sim.AddImage(ecssim.Image{Region: region})
	tests := []struct {
		name  string
		req   ecs.CopyRequest
		code  string
		class string
	}{
		{"unknown source", ecs.CopyRequest{SourceRegion: region, SourceImageID: "m-none", DestinationRegion: otherReg},
			"InvalidImageId.NotFound", "outcome/already_gone"},
		{"same region", ecs.CopyRequest{SourceRegion: region, SourceImageID: src, DestinationRegion: region},
			"IncorrectDestinationRegion", "permanent"},
		{"unknown destination", ecs.CopyRequest{SourceRegion: region, SourceImageID: src, DestinationRegion: "xx-none-1"},
			"DestinationRegion.NotFound", "permanent"},
		{"bad name", ecs.CopyRequest{SourceRegion: region, SourceImageID: src, DestinationRegion: otherReg, Name: "http://x"},
			"InvalidImageName.Malformed", "permanent"},
		{"no destination", ecs.CopyRequest{SourceRegion: region, SourceImageID: src}, "", "permanent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.CopyImage(context.Background(), tt.req)
			var ae *cloud.APIError
			errors.As(err, &ae)
			if (tt.code == "") != (ae == nil) || (ae != nil && ae.Code != tt.code) || classOf(err) != tt.class {
				t.Errorf("CopyImage: %v (class %s), want code %q class %s", err, classOf(err), tt.code, tt.class)
			}
			prefix := "copy image " + tt.req.SourceImageID + " from " + region + " to " + tt.req.DestinationRegion + ": "
			if err != nil && !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q, want prefix %q", err, prefix)
			}
		})
	}
}
