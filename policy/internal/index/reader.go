package index

import (
	"slices"

	"github.com/copyguard/copyguard/cloud"
)

// Reader looks copies up under one read lock; it is valid only inside the
// function given to Read. All lookups through one Reader see the same
// copies, with one pointer each, so callers may key results by pointer.
type Reader struct{ x *Copies }

// Read calls f with the index read-locked.
func (x *Copies) Read(f func(r Reader)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	f(Reader{x})
}

// Gen counts the changes made to the index so far: pointers looked up
// under two Reads are the same ones only if Gen did not change.
func (r Reader) Gen() uint64 { return r.x.gen }

// All returns pointers to every copy, in slot order.
func (r Reader) All() []*cloud.Copy {
	out := make([]*cloud.Copy, 0, len(r.x.byKey))
	for _, c := range r.x.slots {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many copies have the key's field equal to one of the
// values, so that the narrowest lookup can be chosen before making it.
func (r Reader) Count(k Key, values []string) int {
	n := 0
	for _, v := range dedup(values) {
		if k.Field == ImageID {
			n += len(r.x.imageSlots(v))
			continue
		}
		n += len(r.set(k, v))
	}
	return n
}

// Lookup returns pointers to the copies whose field equals one of the
// values, each once.
func (r Reader) Lookup(k Key, values []string) []*cloud.Copy {
	var out []*cloud.Copy
	for _, v := range dedup(values) {
		if k.Field == ImageID {
			for _, slot := range r.x.imageSlots(v) {
				out = append(out, r.x.slots[slot])
			}
			continue
		}
		s := r.set(k, v)
		if out == nil {
			out = make([]*cloud.Copy, 0, len(s))
		}
		for slot := range s {
			out = append(out, r.x.slots[slot])
		}
	}
	return out
}

func (r Reader) set(k Key, v string) slotSet {
	switch k.Field {
	case Region:
		return r.x.byRegion[v]
	case Tag:
		return r.x.byTag[k.Tag][v]
	}
	return nil
}

// dedup drops repeated values so that `copy.region in ["a", "a"]` does not
// yield each copy twice.
func dedup(vs []string) []string {
	if len(vs) < 2 {
		return vs
	}
	out := slices.Clone(vs)
	slices.Sort(out)
	return slices.Compact(out)
}
