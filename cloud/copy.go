package cloud

import "time"

// Status values of an image copy, as the ECS API spells them.
const (
	StatusWaiting      = "Waiting"
	StatusCreating     = "Creating"
	StatusAvailable    = "Available"
	StatusCreateFailed = "CreateFailed"
	StatusUnAvailable  = "UnAvailable"
	StatusDeprecated   = "Deprecated"
)

// AllStatuses lists every status DescribeImages knows (ecs-api.md §3). A
// query by ImageId must name them all in its Status filter: the default
// (Available only) hides the copies in flight.
func AllStatuses() []string {
	return []string{StatusCreating, StatusWaiting, StatusAvailable, StatusUnAvailable, StatusCreateFailed, StatusDeprecated}
}

// Copy is one image copy: the new image that CopyImage created in the
// destination region. It is identified by (Region, ImageID).
type Copy struct {
	ImageID         string            `json:"image_id"`
	Region          string            `json:"region"`
	SourceImageID   string            `json:"source_image_id,omitempty"`
	SourceRegion    string            `json:"source_region,omitempty"`
	Status          string            `json:"status"`
	Progress        int               `json:"progress"`
	SizeGB          int               `json:"size_gb,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	StartedAt       time.Time         `json:"started_at,omitzero"`
	Name            string            `json:"name,omitempty"`
	ResourceGroupID string            `json:"resource_group_id,omitempty"`
	// ObservedAt is when copyguard last observed the copy in this state
	// (a listing's start, an inventory event's time, a re-check); zero
	// where unknown. The cloud never sets it.
	ObservedAt time.Time `json:"observed_at,omitzero"`
}

// Key returns "region/image_id", the identity of a copy.
func (c Copy) Key() string { return c.Region + "/" + c.ImageID }

// InFlight reports whether the copy is still Waiting or Creating.
func (c Copy) InFlight() bool {
	return c.Status == StatusWaiting || c.Status == StatusCreating
}
