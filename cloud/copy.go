package cloud

import "time"

// Status values of an image copy, as the ECS API spells them.
const (
	StatusWaiting      = "Waiting"
	StatusCreating     = "Creating"
	StatusAvailable    = "Available"
	StatusCreateFailed = "CreateFailed"
)

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
}

// Key returns "region/image_id", the identity of a copy.
func (c Copy) Key() string { return c.Region + "/" + c.ImageID }

// InFlight reports whether the copy is still Waiting or Creating.
func (c Copy) InFlight() bool {
	return c.Status == StatusWaiting || c.Status == StatusCreating
}
