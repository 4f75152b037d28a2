package ecssim

import (
	"testing"
	"time"
)

func TestCancelCopyImage(t *testing.T) {
	h := newHarness(t, Config{WaitFor: time.Minute, CopyTime: 10 * time.Minute})
	seed := func(img Image) string {
		img.Region = "cn-shanghai"
		return h.s.AddImage(img)
	}
	waiting := seed(Image{IsCopied: true})
	creating := seed(Image{IsCopied: true, Created: epoch.Add(-2 * time.Minute)})
	available := seed(Image{IsCopied: true, Created: epoch.Add(-time.Hour)})
	failed := seed(Image{IsCopied: true, Created: epoch.Add(-time.Hour), Fail: true})
	fixedUnavailable := seed(Image{IsCopied: true, Status: StatusUnAvailable})
	source := seed(Image{})
	elsewhere := h.s.AddImage(Image{Region: "cn-beijing", IsCopied: true})

	tests := []struct {
		name, region, id string
		status           int
		code, message    string
	}{
		{"waiting copy is cancelled", "cn-shanghai", waiting, 200, "", ""},
		{"creating copy is cancelled", "cn-shanghai", creating, 200, "", ""},
		{"second cancel finds nothing", "cn-shanghai", creating, 404, CodeInvalidImage, "The specified ImageId does not exist."},
		{"available copy", "cn-shanghai", available, 400, CodeIncorrectImageStatus, "The image is copied finished."},
		{"failed copy", "cn-shanghai", failed, 400, CodeIncorrectImageStatus, "The Image copy has been failed."},
		{"unavailable copy", "cn-shanghai", fixedUnavailable, 400, CodeIncorrectImageStatus, "The specified image is not coping."},
		{"not a copy", "cn-shanghai", source, 400, CodeNotFromCopy, "The specified image is not the target image of a copy action."},
		{"unknown id", "cn-shanghai", "m-nothere", 404, CodeInvalidImage, ""},
		{"copy in another region", "cn-shanghai", elsewhere, 404, CodeInvalidImage, ""},
		{"unknown region", "mars-north-1", waiting, 404, CodeInvalidRegion, "The specified RegionId does not exist."},
		{"missing image id", "cn-shanghai", "", 400, CodeMissingParameter, ""},
		{"missing region", "", elsewhere, 400, CodeMissingParameter, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kv []string
			if tt.id != "" {
				kv = []string{"ImageId", tt.id}
			}
			status, m := h.call("CancelCopyImage", tt.region, kv...)
			if status != tt.status || code(m) != tt.code {
				t.Fatalf("got %d %v, want %d %s", status, m, tt.status, tt.code)
			}
			if tt.message != "" && m["Message"] != tt.message {
				t.Fatalf("message %q, want %q", m["Message"], tt.message)
			}
			if status == 200 {
				if len(m) != 1 {
					t.Fatalf("success body must hold RequestId only: %v", m)
				}
				if _, ok := h.s.Image(tt.region, tt.id); ok {
					t.Fatalf("cancelled copy still exists")
				}
				_, d := h.call("DescribeImages", tt.region, "ImageId", tt.id, "Status", "Waiting,Creating,Available,CreateFailed")
				if n := len(images(t, d)); n != 0 {
					t.Fatalf("cancelled copy still described: %v", d)
				}
			}
		})
	}
	if _, ok := h.s.Image("cn-shanghai", source); !ok {
		t.Fatal("the source image must never change")
	}
}

func TestCancelRaceWithCompletion(t *testing.T) {
	// A cancel that arrives the instant the copy completes loses: the copy
	// is Available and stays.
	h := newHarness(t, Config{WaitFor: time.Minute, CopyTime: time.Minute})
	id := h.s.AddImage(Image{Region: "cn-hangzhou", IsCopied: true})
	h.clock.Add(2 * time.Minute)
	if status, m := h.call("CancelCopyImage", "cn-hangzhou", "ImageId", id); status != 400 || code(m) != CodeIncorrectImageStatus {
		t.Fatalf("got %d %v", status, m)
	}
	if img, ok := h.s.Image("cn-hangzhou", id); !ok || img.Status != StatusAvailable {
		t.Fatalf("copy after late cancel: %+v %v", img, ok)
	}
}
