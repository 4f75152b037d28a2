package ecssim

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Image statuses as DescribeImages reports them.
const (
	StatusWaiting      = "Waiting"
	StatusCreating     = "Creating"
	StatusAvailable    = "Available"
	StatusCreateFailed = "CreateFailed"
	StatusUnAvailable  = "UnAvailable"
	StatusDeprecated   = "Deprecated"
)

// DefaultSizeGB is the size given to seeded images that do not say, the
// default ECS system disk size.
const DefaultSizeGB = 40

// Image is one image in one region, as seeded and as observed.
//
// For a copy (IsCopied) with no fixed Status, the status follows a timeline
// starting at Created: Waiting for WaitFor, then Creating for CopyTime with
// Progress rising linearly from 0 to 100, then Available. A copy with Fail
// set turns CreateFailed halfway through Creating and keeps Progress at 50.
// Images that are not copies and have no Status are Available.
//
// On a source image, WaitFor, CopyTime and Fail are the template for the
// copies CopyImage makes from it, so a test can decide how a copy will behave
// before the code under test starts it.
type Image struct {
	ID, Region, Name, ResourceGroupID string
	Description                       string
	// OwnerAlias is "self" (the default), "system", "others" or "marketplace".
	OwnerAlias string
	// Status fixes the status forever; "" means computed from the timeline.
	Status string
	// Progress is computed for timeline copies; for a fixed Status it is
	// returned as seeded (0 for Available is reported as 100).
	Progress                    int
	IsCopied                    bool
	SourceImageID, SourceRegion string
	SizeGB                      int
	Tags                        map[string]string
	Created                     time.Time
	// WaitFor and CopyTime time a copy; 0 means the server defaults
	// (Config.WaitFor, and Config.CopyTime or Config.CopyPerGB × SizeGB).
	WaitFor, CopyTime time.Duration
	Fail              bool
}

// image is the stored record; seq breaks ties in the DescribeImages order
// between images created at the same instant.
type image struct {
	Image
	seq uint64
}

// state returns the status and progress at now.
func (im *image) state(now time.Time, d timing) (string, int) {
	if im.Status != "" {
		if im.Status == StatusAvailable && im.Progress == 0 {
			return im.Status, 100
		}
		return im.Status, im.Progress
	}
	if !im.IsCopied {
		return StatusAvailable, 100
	}
	wait, copyTime := d.of(im.Image)
	start := im.Created.Add(wait)
	if now.Before(start) {
		return StatusWaiting, 0
	}
	elapsed := now.Sub(start)
	if im.Fail && elapsed >= copyTime/2 {
		return StatusCreateFailed, 50
	}
	if elapsed >= copyTime {
		return StatusAvailable, 100
	}
	return StatusCreating, int(elapsed * 100 / copyTime)
}

// remaining is the RemainTime DescribeImages reports for a disk, in seconds.
func (im *image) remaining(now time.Time, d timing) int {
	status, _ := im.state(now, d)
	if status != StatusWaiting && status != StatusCreating {
		return 0
	}
	wait, copyTime := d.of(im.Image)
	left := im.Created.Add(wait + copyTime).Sub(now)
	return int((left + time.Second - 1) / time.Second)
}

// timing holds the server-wide copy speed defaults.
type timing struct {
	waitFor, copyTime, perGB time.Duration
}

func (d timing) of(img Image) (wait, copyTime time.Duration) {
	wait, copyTime = img.WaitFor, img.CopyTime
	if wait <= 0 {
		wait = d.waitFor
	}
	if copyTime <= 0 {
		copyTime = d.copyTime
	}
	if copyTime <= 0 {
		copyTime = d.perGB * time.Duration(max(img.SizeGB, 1))
	}
	if copyTime <= 0 {
		copyTime = time.Nanosecond // keeps the progress division defined
	}
	return wait, copyTime
}

// regionImages indexes one region's images by id, so a cancel is O(1). The
// sorted view serves DescribeImages: appends in creation order keep it
// sorted, deletions only leave stale entries that the next scan drops, and
// anything else (a backdated seed) marks it for one re-sort.
type regionImages struct {
	byID   map[string]*image
	sorted []*image
	stale  int // entries of sorted no longer in byID
	dirty  bool
}

func (r *regionImages) put(im *image) {
	r.byID[im.ID] = im
	if n := len(r.sorted); !r.dirty && (n == 0 || compareImages(r.sorted[n-1], im) < 0) {
		r.sorted = append(r.sorted, im)
		return
	}
	r.dirty = true
}

func (r *regionImages) remove(id string) {
	if _, ok := r.byID[id]; ok {
		delete(r.byID, id)
		r.stale++
	}
}

func (r *regionImages) inOrder() []*image {
	switch {
	case r.dirty:
		r.sorted = slices.AppendSeq(r.sorted[:0], maps.Values(r.byID))
		slices.SortFunc(r.sorted, compareImages)
	case r.stale > 0:
		r.sorted = slices.DeleteFunc(r.sorted, func(im *image) bool { return r.byID[im.ID] != im })
	}
	r.dirty, r.stale = false, 0
	return r.sorted
}

func compareImages(a, b *image) int {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// Seed stores img and returns its id, generating one when img.ID is empty.
// It fails when the region is not known to the server, the id is taken in
// that region, or a field is out of range.
func (s *Server) Seed(img Image) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seedLocked(img)
}

// AddImage is Seed for tests and fixed setups: it panics on an error, which
// can only come from a mistake in the seeded data.
func (s *Server) AddImage(img Image) string {
	id, err := s.Seed(img)
	if err != nil {
		panic("ecssim: " + err.Error())
	}
	return id
}

func (s *Server) seedLocked(img Image) (string, error) {
	r, ok := s.images[img.Region]
	if !ok {
		return "", fmt.Errorf("seed image %q: unknown region %q", img.ID, img.Region)
	}
	switch img.OwnerAlias {
	case "":
		img.OwnerAlias = "self"
	case "self", "system", "others", "marketplace":
	default:
		return "", fmt.Errorf("seed image %q: owner alias %q is not self, system, others or marketplace", img.ID, img.OwnerAlias)
	}
	if img.SizeGB < 0 || img.WaitFor < 0 || img.CopyTime < 0 || img.Progress < 0 || img.Progress > 100 {
		return "", fmt.Errorf("seed image %q: negative size or duration, or progress outside 0..100", img.ID)
	}
	if img.ID == "" {
		img.ID = s.newImageID(img.Region, r)
	} else if _, taken := r.byID[img.ID]; taken {
		return "", fmt.Errorf("seed image %q: id already used in %s", img.ID, img.Region)
	}
	if img.SizeGB == 0 {
		img.SizeGB = DefaultSizeGB
	}
	if img.Created.IsZero() {
		img.Created = s.now()
	}
	img.Created = img.Created.UTC()
	img.Tags = maps.Clone(img.Tags)
	s.seq++
	r.put(&image{Image: img, seq: s.seq})
	return img.ID, nil
}

// Image returns the current state of an image, with Status and Progress
// computed at the server clock.
func (s *Server) Image(region, id string) (Image, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.images[region]
	if !ok {
		return Image{}, false
	}
	im, ok := r.byID[id]
	if !ok {
		return Image{}, false
	}
	out := im.Image
	out.Status, out.Progress = im.state(s.now(), s.timing)
	out.Tags = maps.Clone(im.Tags)
	return out, true
}

// regionPrefixes are the two-character prefixes real image ids carry per
// region, so generated ids look plausible in logs and demos.
var regionPrefixes = map[string]string{
	"cn-hangzhou": "bp", "cn-shanghai": "uf", "cn-beijing": "2z", "cn-shenzhen": "wz",
	"cn-qingdao": "m5", "cn-zhangjiakou": "8v", "cn-hongkong": "j6", "ap-southeast-1": "t4",
	"ap-northeast-1": "6w", "ap-south-1": "a2", "eu-central-1": "gw", "eu-west-1": "d7",
	"us-west-1": "rj", "us-east-1": "0x",
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

func (s *Server) newImageID(region string, r *regionImages) string {
	prefix, ok := regionPrefixes[region]
	if !ok {
		prefix = "zz"
	}
	for {
		var b strings.Builder
		b.WriteString("m-")
		b.WriteString(prefix)
		for range 18 {
			b.WriteByte(idAlphabet[s.rng.IntN(len(idAlphabet))])
		}
		if _, taken := r.byID[b.String()]; !taken {
			return b.String()
		}
	}
}
