package index

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/copyguard/copyguard/cloud"
)

// Field is a copy field the index can look copies up by.
type Field int

const (
	Region Field = iota
	ImageID
	Tag
)

// String names the field as CEL spells it.
func (f Field) String() string {
	switch f {
	case Region:
		return "region"
	case ImageID:
		return "image_id"
	case Tag:
		return "tags"
	}
	return "Field(" + strconv.Itoa(int(f)) + ")"
}

// Key names what a lookup reads: a field, and for Tag the tag key.
type Key struct {
	Field Field
	Tag   string
}

// Value reads the key's field from a copy; ok is false for a tag the copy
// does not have.
func (k Key) Value(c *cloud.Copy) (v string, ok bool) {
	switch k.Field {
	case Region:
		return c.Region, true
	case ImageID:
		return c.ImageID, true
	case Tag:
		v, ok = c.Tags[k.Tag]
		return v, ok
	}
	return "", false
}

// Copies is the in-memory inventory of copies, indexed by region, image id
// and tag. It is safe for concurrent use.
//
// Copies live in a slot table (a slice of pointers with a free list);
// the secondary indexes hold int32 slot numbers in sets, which keeps the
// per-copy overhead small at 100,000 copies. A stored copy is never
// modified: Put stores a new one, so an evaluation that took pointers
// under the read lock can keep reading them after releasing it.
type Copies struct {
	mu       sync.RWMutex
	slots    []*cloud.Copy // nil for a free slot
	free     []int32
	byKey    map[copyKey]int32
	byRegion map[string]slotSet
	// byImage holds one slot per image id; imageMore the rare others (the
	// same id in several regions). A set per id would cost a map per copy.
	byImage   map[string]int32
	imageMore map[string][]int32
	byTag     map[string]map[string]slotSet // key → value → slots
	// gen counts changes, so an evaluation can tell whether pointers it
	// looked up earlier are still the current ones.
	gen uint64
}

type copyKey struct{ region, imageID string }

type slotSet map[int32]struct{}

// New returns an empty Copies.
func New() *Copies {
	return &Copies{
		byKey:     map[copyKey]int32{},
		byRegion:  map[string]slotSet{},
		byImage:   map[string]int32{},
		imageMore: map[string][]int32{},
		byTag:     map[string]map[string]slotSet{},
	}
}

// Put adds or replaces the copy identified by (Region, ImageID). Copies
// keeps c.Tags as it is: the caller must not modify that map afterwards.
func (x *Copies) Put(c cloud.Copy) {
	stored := &c
	k := copyKey{c.Region, c.ImageID}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	if slot, ok := x.byKey[k]; ok {
		// Most updates only move progress; leave the tag sets alone then.
		if old := x.slots[slot].Tags; !maps.Equal(old, c.Tags) {
			x.unindexTags(slot, old)
			x.indexTags(slot, c.Tags)
		}
		x.slots[slot] = stored
		return
	}
	var slot int32
	if n := len(x.free); n > 0 {
		slot, x.free = x.free[n-1], x.free[:n-1]
		x.slots[slot] = stored
	} else {
		slot = int32(len(x.slots))
		x.slots = append(x.slots, stored)
	}
	x.byKey[k] = slot
	add(x.byRegion, c.Region, slot)
	x.addImage(c.ImageID, slot)
	x.indexTags(slot, c.Tags)
}

// Delete removes a copy; deleting an unknown copy does nothing.
func (x *Copies) Delete(region, imageID string) {
	k := copyKey{region, imageID}
	x.mu.Lock()
	defer x.mu.Unlock()
	slot, ok := x.byKey[k]
	if !ok {
		return
	}
	x.gen++
	c := x.slots[slot]
	delete(x.byKey, k)
	remove(x.byRegion, region, slot)
	x.removeImage(imageID, slot)
	x.unindexTags(slot, c.Tags)
	x.slots[slot] = nil
	x.free = append(x.free, slot)
}

// Get returns the copy with that identity. Its Tags map is shared with
// Copies and must not be modified.
func (x *Copies) Get(region, imageID string) (cloud.Copy, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	slot, ok := x.byKey[copyKey{region, imageID}]
	if !ok {
		return cloud.Copy{}, false
	}
	return *x.slots[slot], true
}

// Len is the number of copies.
func (x *Copies) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byKey)
}

// RegionLen is the number of copies in region.
func (x *Copies) RegionLen(region string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byRegion[region])
}

// All returns every copy sorted by (region, image_id).
func (x *Copies) All() []cloud.Copy {
	x.mu.RLock()
	out := make([]cloud.Copy, 0, len(x.byKey))
	for _, c := range x.slots {
		if c != nil {
			out = append(out, *c)
		}
	}
	x.mu.RUnlock()
	slices.SortFunc(out, func(a, b cloud.Copy) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.ImageID, b.ImageID))
	})
	return out
}

func (x *Copies) indexTags(slot int32, tags map[string]string) {
	for k, v := range tags {
		vals := x.byTag[k]
		if vals == nil {
			vals = map[string]slotSet{}
			x.byTag[k] = vals
		}
		add(vals, v, slot)
	}
}

func (x *Copies) unindexTags(slot int32, tags map[string]string) {
	for k, v := range tags {
		if vals := x.byTag[k]; vals != nil {
			remove(vals, v, slot)
			if len(vals) == 0 {
				delete(x.byTag, k)
			}
		}
	}
}

func (x *Copies) addImage(id string, slot int32) {
	if _, ok := x.byImage[id]; !ok {
		x.byImage[id] = slot
		return
	}
	x.imageMore[id] = append(x.imageMore[id], slot)
}

func (x *Copies) removeImage(id string, slot int32) {
	more := x.imageMore[id]
	if x.byImage[id] == slot {
		if len(more) == 0 {
			delete(x.byImage, id)
			return
		}
		x.byImage[id], more = more[len(more)-1], more[:len(more)-1]
	} else if i := slices.Index(more, slot); i >= 0 {
		more = slices.Delete(more, i, i+1)
	}
	if len(more) == 0 {
		delete(x.imageMore, id)
	} else {
		x.imageMore[id] = more
	}
}

// imageSlots returns the slots of an image id.
func (x *Copies) imageSlots(id string) []int32 {
	first, ok := x.byImage[id]
	if !ok {
		return nil
	}
	return append([]int32{first}, x.imageMore[id]...)
}

func add(m map[string]slotSet, k string, slot int32) {
	s := m[k]
	if s == nil {
		s = slotSet{}
		m[k] = s
	}
	s[slot] = struct{}{}
}

func remove(m map[string]slotSet, k string, slot int32) {
	if s := m[k]; s != nil {
		delete(s, slot)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}
