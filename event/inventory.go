package event

import (
	"maps"
	"time"

	"github.com/copyguard/copyguard/cloud"
)

// Inventory event types (SPEC §2.2), published on <prefix>.copy.started
// and <prefix>.copy.finished by whatever starts copies.
const (
	TypeCopyStarted  = "copy.started"
	TypeCopyFinished = "copy.finished"
)

// CopyStarted is the data of a copy.started event: CopyImage has created
// ImageID in Region (the destination), copying SourceImageID from
// SourceRegion.
type CopyStarted struct {
	ImageID         string            `json:"image_id"`
	Region          string            `json:"region"`
	SourceImageID   string            `json:"source_image_id,omitempty"`
	SourceRegion    string            `json:"source_region,omitempty"`
	SizeGB          int               `json:"size_gb,omitempty"`
	Name            string            `json:"name,omitempty"`
	ResourceGroupID string            `json:"resource_group_id,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	StartedAt       time.Time         `json:"started_at,omitzero"`
}

// Validate checks the fields against SPEC §2.2. Only the copy's identity
// is required: the source fields are often unknown to the producer (and
// DescribeImages does not report them), but when present they must be
// well-formed because policies select on them.
func (c CopyStarted) Validate() error {
	var size, started *Error
	if c.SizeGB < 0 || c.SizeGB > maxSizeGB {
		size = errorf("data.size_gb", "must be between 0 and %d, got %d", maxSizeGB, c.SizeGB)
	}
	if !c.StartedAt.IsZero() {
		started = checkTime("data.started_at", c.StartedAt)
	}
	return firstError(
		checkImageID("data.image_id", c.ImageID, true),
		checkRegion("data.region", c.Region, true),
		checkImageID("data.source_image_id", c.SourceImageID, false),
		checkRegion("data.source_region", c.SourceRegion, false),
		size,
		checkField("data.name", c.Name, maxImageName, false),
		checkResourceGroup("data.resource_group_id", c.ResourceGroupID),
		checkTags("data.tags", c.Tags),
		started,
	)
}

// Copy returns the copy as the inventory holds it: just started, so
// Waiting with progress 0.
func (c CopyStarted) Copy() cloud.Copy {
	return cloud.Copy{
		ImageID:         c.ImageID,
		Region:          c.Region,
		SourceImageID:   c.SourceImageID,
		SourceRegion:    c.SourceRegion,
		Status:          cloud.StatusWaiting,
		Progress:        0,
		SizeGB:          c.SizeGB,
		Tags:            maps.Clone(c.Tags), // the inventory must not share a map with the caller
		StartedAt:       c.StartedAt,
		Name:            c.Name,
		ResourceGroupID: c.ResourceGroupID,
	}
}

// CopyFinished is the data of a copy.finished event: the copy reached a
// final status.
type CopyFinished struct {
	ImageID string `json:"image_id"`
	Region  string `json:"region"`
	Status  string `json:"status"`
}

// Validate checks the fields against SPEC §2.2.
func (c CopyFinished) Validate() error {
	var status *Error
	switch c.Status {
	case cloud.StatusAvailable, cloud.StatusCreateFailed:
	case "":
		status = errorf("data.status", "must not be empty")
	default:
		status = errorf("data.status", "%q is not a final status: want %q or %q",
			truncate(c.Status, 64), cloud.StatusAvailable, cloud.StatusCreateFailed)
	}
	return firstError(
		checkImageID("data.image_id", c.ImageID, true),
		checkRegion("data.region", c.Region, true),
		status,
	)
}

// DecodeCopyStarted reads the data of a copy.started event. When the data
// has no started_at, the event's time stands in for it: the producer
// published when it started the copy.
func DecodeCopyStarted(e *Event) (CopyStarted, error) {
	r, err := inventoryReader(e, TypeCopyStarted)
	if err != nil {
		return CopyStarted{}, err
	}
	c := CopyStarted{
		ImageID:         r.str("image_id", true),
		Region:          r.str("region", true),
		SourceImageID:   r.str("source_image_id", false),
		SourceRegion:    r.str("source_region", false),
		SizeGB:          r.integer("size_gb", 0, maxSizeGB),
		Name:            r.str("name", false),
		ResourceGroupID: r.str("resource_group_id", false),
		Tags:            r.tags("tags"),
		StartedAt:       r.time("started_at"),
	}
	if r.err != nil {
		return CopyStarted{}, r.err
	}
	if c.StartedAt.IsZero() {
		c.StartedAt = e.Time
	}
	if err := c.Validate(); err != nil {
		return CopyStarted{}, err
	}
	return c, nil
}

// DecodeCopyFinished reads the data of a copy.finished event.
func DecodeCopyFinished(e *Event) (CopyFinished, error) {
	r, err := inventoryReader(e, TypeCopyFinished)
	if err != nil {
		return CopyFinished{}, err
	}
	c := CopyFinished{
		ImageID: r.str("image_id", true),
		Region:  r.str("region", true),
		Status:  r.str("status", true),
	}
	if r.err != nil {
		return CopyFinished{}, r.err
	}
	if err := c.Validate(); err != nil {
		return CopyFinished{}, err
	}
	return c, nil
}

func inventoryReader(e *Event, typ string) (*reader, error) {
	if e == nil {
		return nil, errorf("", "nil event")
	}
	if e.Type != typ {
		return nil, errorf("type", "%q is not %q", truncate(e.Type, MaxTypeLen), typ)
	}
	m, err := decodeData(e.Data)
	if err != nil {
		return nil, err
	}
	return &reader{m: m, path: "data"}, nil
}
