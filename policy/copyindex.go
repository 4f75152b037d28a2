package policy

import (
	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/policy/internal/index"
)

// CopyIndex is the in-memory inventory of copies, indexed by region, image id
// and tag so that Evaluate can look candidates up instead of running CEL
// on every copy. It is safe for concurrent use.
//
// A stored copy is never modified: Put stores a new one, so an evaluation
// that looked copies up can keep reading them while the index changes.
// The storage itself is policy/internal/index.
type CopyIndex struct {
	c *index.Copies
}

// NewCopyIndex returns an empty CopyIndex.
func NewCopyIndex() *CopyIndex { return &CopyIndex{c: index.New()} }

// Put adds or replaces the copy identified by (Region, ImageID). The CopyIndex
// keeps c.Tags as it is: the caller must not modify that map afterwards.
func (x *CopyIndex) Put(c cloud.Copy) { x.c.Put(c) }

// Delete removes a copy; deleting an unknown copy does nothing.
func (x *CopyIndex) Delete(region, imageID string) { x.c.Delete(region, imageID) }

// Get returns the copy with that identity. Its Tags map is shared with
// the CopyIndex and must not be modified.
func (x *CopyIndex) Get(region, imageID string) (cloud.Copy, bool) { return x.c.Get(region, imageID) }

// Len is the number of copies.
func (x *CopyIndex) Len() int { return x.c.Len() }

// RegionLen is the number of copies in region.
func (x *CopyIndex) RegionLen(region string) int { return x.c.RegionLen(region) }

// All returns every copy sorted by (region, image_id).
func (x *CopyIndex) All() []cloud.Copy { return x.c.All() }

// copies is the storage, or nil for a nil CopyIndex.
func (x *CopyIndex) copies() *index.Copies {
	if x == nil {
		return nil
	}
	return x.c
}
