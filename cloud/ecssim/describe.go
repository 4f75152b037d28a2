package ecssim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Paging limits of DescribeImages (ecs-api.md §3).
const (
	DefaultPageSize = 10
	MaxPageSize     = 100
)

// selfOwnerID is the account id reported for images the caller owns.
const selfOwnerID int64 = 1234567890123456

type describeImagesResponse struct {
	RequestId  string
	RegionId   string
	TotalCount int
	PageNumber int
	PageSize   int
	Images     struct{ Image []imageJSON }
}

// imageJSON follows the SDK's struct tags exactly: the SDK decodes
// case-sensitively, so a misspelt key would silently read as empty.
type imageJSON struct {
	ImageId                 string
	ImageName               string
	Description             string
	Status                  string
	Progress                string
	IsCopied                bool
	CreationTime            string
	Size                    int
	ImageOwnerAlias         string
	ImageOwnerId            int64
	ResourceGroupId         string
	OSType                  string
	OSName                  string
	OSNameEn                string
	Platform                string
	Architecture            string
	Usage                   string
	BootMode                string
	IsSelfShared            string
	IsPublic                bool
	IsSubscribed            bool
	IsSupportIoOptimized    bool
	IsSupportCloudinit      bool
	LoginAsNonRootSupported bool
	Tags                    struct{ Tag []tagJSON }
	DiskDeviceMappings      struct{ DiskDeviceMapping []diskJSON }
}

type tagJSON struct {
	TagKey   string
	TagValue string
}

type diskJSON struct {
	SnapshotId    string
	Size          string // a string in the real API, unlike Image.Size
	DiskImageSize int
	Progress      string
	RemainTime    int
	Device        string
	Type          string
	Format        string
	Encrypted     bool
}

// describeFilter is a parsed DescribeImages query.
type describeFilter struct {
	statuses   []string
	owners     []string
	ids        []string
	name       string
	group      string
	tags       []tag
	start, end time.Time
	page, size int
}

func parseDescribe(p map[string]string) (describeFilter, *apiError) {
	f := describeFilter{page: 1, size: DefaultPageSize, name: p["ImageName"], group: p["ResourceGroupId"]}
	f.statuses = splitIDs(p["Status"])
	if len(f.statuses) == 0 {
		f.statuses = []string{StatusAvailable} // the documented default hides in-flight copies
	}
	switch a := p["ImageOwnerAlias"]; a {
	case "":
		f.owners = []string{"self", "system", "others"}
	case "self", "system", "others", "marketplace":
		f.owners = []string{a}
	default:
		return f, errorf(http.StatusBadRequest, CodeOwnerAliasNotSupported, "The specified ImageOwnerAlias is not supported.")
	}
	f.ids = splitIDs(p["ImageId"])
	var aerr *apiError
	if f.tags, aerr = readTags(p); aerr != nil {
		return f, aerr
	}
	if v, ok := p["PageNumber"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, invalid("PageNumber")
		}
		f.page = n
	}
	if v, ok := p["PageSize"]; ok {
		// The docs give 100 as the maximum without saying whether more is
		// clamped or refused; refusing shows a client bug instead of hiding
		// it behind a short page.
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return f, invalid("PageSize")
		}
		f.size = n
	}
	for i := 1; ; i++ {
		key, ok := p[fmt.Sprintf("Filter.%d.Key", i)]
		if !ok {
			break
		}
		t, err := time.Parse("2006-01-02T15:04Z", p[fmt.Sprintf("Filter.%d.Value", i)])
		if err != nil {
			return f, invalid(fmt.Sprintf("Filter.%d.Value", i))
		}
		switch key {
		case "CreationStartTime":
			f.start = t
		case "CreationEndTime":
			f.end = t
		default:
			return f, errorf(http.StatusNotFound, CodeFilterKeyNotFound, "The specified filter key %q is not found.", key)
		}
	}
	return f, nil
}

func (f *describeFilter) match(im *image, status string) bool {
	if !slices.ContainsFunc(f.statuses, func(s string) bool { return strings.EqualFold(s, status) }) ||
		!slices.Contains(f.owners, im.OwnerAlias) ||
		(len(f.ids) > 0 && !slices.Contains(f.ids, im.ID)) ||
		(f.name != "" && f.name != im.Name) ||
		(f.group != "" && f.group != im.ResourceGroupID) ||
		(!f.start.IsZero() && im.Created.Before(f.start)) ||
		(!f.end.IsZero() && im.Created.After(f.end)) {
		return false
	}
	for _, t := range f.tags {
		v, ok := im.Tags[t.key]
		if !ok || (t.value != "" && v != t.value) {
			return false
		}
	}
	return true
}

// describeImages lists one region's images, oldest first so that copies
// started while a caller pages through land on the last page instead of
// shifting the earlier ones. Unknown parameters are ignored, as the real API
// does with parameters it does not document.
func (s *Server) describeImages(reqID string, p map[string]string) (any, *apiError) {
	f, aerr := parseDescribe(p)
	if aerr != nil {
		return nil, aerr
	}
	region := p["RegionId"]
	resp := describeImagesResponse{RequestId: reqID, RegionId: region, PageNumber: f.page, PageSize: f.size}
	resp.Images.Image = []imageJSON{}

	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.images[region]
	if !ok {
		return nil, regionNotFound()
	}
	now := s.now()
	skip := (f.page - 1) * f.size
	for _, im := range r.inOrder() {
		status, progress := im.state(now, s.timing)
		if !f.match(im, status) {
			continue
		}
		resp.TotalCount++
		if resp.TotalCount > skip && len(resp.Images.Image) < f.size {
			resp.Images.Image = append(resp.Images.Image, s.toJSON(im, status, progress, now))
		}
	}
	return resp, nil
}

func (s *Server) toJSON(im *image, status string, progress int, now time.Time) imageJSON {
	pct := strconv.Itoa(progress) + "%"
	j := imageJSON{
		ImageId:              im.ID,
		ImageName:            im.Name,
		Description:          im.Description,
		Status:               status,
		Progress:             pct,
		IsCopied:             im.IsCopied,
		CreationTime:         im.Created.UTC().Format("2006-01-02T15:04:05Z"),
		Size:                 im.SizeGB,
		ImageOwnerAlias:      im.OwnerAlias,
		ResourceGroupId:      im.ResourceGroupID,
		OSType:               "linux",
		OSName:               "Alibaba Cloud Linux 3.2104 LTS 64位",
		OSNameEn:             "Alibaba Cloud Linux 3.2104 LTS 64 bit",
		Platform:             "Aliyun",
		Architecture:         "x86_64",
		Usage:                "none",
		BootMode:             "UEFI",
		IsSupportIoOptimized: true,
		IsSupportCloudinit:   true,
	}
	if im.OwnerAlias == "self" {
		j.ImageOwnerId = selfOwnerID
	}
	keys := make([]string, 0, len(im.Tags))
	for k := range im.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	j.Tags.Tag = make([]tagJSON, 0, len(keys))
	for _, k := range keys {
		j.Tags.Tag = append(j.Tags.Tag, tagJSON{TagKey: k, TagValue: im.Tags[k]})
	}
	j.DiskDeviceMappings.DiskDeviceMapping = []diskJSON{{
		SnapshotId:    "s-" + strings.TrimPrefix(im.ID, "m-"),
		Size:          strconv.Itoa(im.SizeGB),
		DiskImageSize: im.SizeGB,
		Progress:      pct,
		RemainTime:    im.remaining(now, s.timing),
		Device:        "/dev/xvda",
		Type:          "system",
	}}
	return j
}
