package worker

import (
	"slices"
	"strings"
	"sync"
	"unique"

	"github.com/copyguard/copyguard/cloud"
)

// interner shares the strings and tag maps that repeat across the
// inventory. A hundred thousand copies carry a few regions, a few
// statuses and a few hundred distinct tag sets; decoded from JSON, each
// copy would hold its own, which is most of the inventory's memory.
type interner struct {
	mu   sync.Mutex
	tags map[string]map[string]string
}

// maxTagSets bounds the table: past it, it starts over, so an inventory
// whose tag sets are all different costs no more than without sharing.
const maxTagSets = 1 << 16

// copy replaces c's repeated strings and its tag map with shared ones.
// The shared tag maps must never be modified; policy.CopyIndex does not.
func (in *interner) copy(c *cloud.Copy) {
	for _, s := range []*string{&c.Region, &c.Status, &c.SourceRegion, &c.SourceImageID, &c.ResourceGroupID} {
		if *s != "" {
			*s = unique.Make(*s).Value()
		}
	}
	if len(c.Tags) == 0 {
		c.Tags = nil
		return
	}
	keys := make([]string, 0, len(c.Tags))
	for k := range c.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(c.Tags[k])
		b.WriteByte(0)
	}
	sig := b.String()
	in.mu.Lock()
	defer in.mu.Unlock()
	if shared, ok := in.tags[sig]; ok {
		c.Tags = shared
		return
	}
	if in.tags == nil || len(in.tags) >= maxTagSets {
		in.tags = map[string]map[string]string{}
	}
	in.tags[sig] = c.Tags
}
