package index

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/copyguard/copyguard/cloud"
)

// model is the naive inventory Copies must agree with: a map by identity.
type model map[string]cloud.Copy

func (m model) lookup(k Key, values []string) []string {
	var out []string
	for key, c := range m {
		v, ok := k.Value(&c)
		if ok && slices.Contains(values, v) {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}

// randomCopy draws from small pools, so that puts replace, regions and
// image ids repeat across copies, and tags move between values.
func randomCopy(rng *rand.Rand) cloud.Copy {
	c := cloud.Copy{
		Region:   fmt.Sprintf("r%d", rng.IntN(4)),
		ImageID:  fmt.Sprintf("m-%d", rng.IntN(12)),
		Progress: rng.IntN(100),
	}
	switch rng.IntN(4) {
	case 0: // no tags at all
	case 1:
		c.Tags = map[string]string{}
	default:
		c.Tags = map[string]string{}
		for _, k := range []string{"team", "env", "cc"} {
			if rng.IntN(2) == 0 {
				c.Tags[k] = fmt.Sprintf("%s-%d", k, rng.IntN(3))
			}
		}
	}
	return c
}

// TestCopiesMatchModel applies random Put and Delete sequences to Copies
// and to a plain map, and after every step compares everything a caller
// can observe: Get, Len, All, and Lookup and Count for every key.
func TestCopiesMatchModel(t *testing.T) {
	keys := []Key{{Field: Region}, {Field: ImageID}, {Field: Tag, Tag: "team"}, {Field: Tag, Tag: "env"}, {Field: Tag, Tag: "cc"}, {Field: Tag, Tag: "absent"}}
	values := func(k Key, rng *rand.Rand) []string {
		var pool []string
		switch k.Field {
		case Region:
			pool = []string{"r0", "r1", "r2", "r3", "r9"}
		case ImageID:
			pool = []string{"m-0", "m-1", "m-5", "m-11", "m-99"}
		default:
			pool = []string{k.Tag + "-0", k.Tag + "-1", k.Tag + "-2", ""}
		}
		var out []string
		for range rng.IntN(4) {
			out = append(out, pool[rng.IntN(len(pool))]) // duplicates included
		}
		return out
	}
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		x, m := New(), model{}
		for step := range 300 {
			c := randomCopy(rng)
			if rng.IntN(3) == 0 {
				x.Delete(c.Region, c.ImageID)
				delete(m, c.Key())
			} else {
				x.Put(c)
				m[c.Key()] = c
			}
			if x.Len() != len(m) {
				t.Fatalf("seed %d step %d: len %d, model %d", seed, step, x.Len(), len(m))
			}
			for _, k := range keys {
				vs := values(k, rng)
				want := m.lookup(k, vs)
				if got := lookup(x, k, vs...); !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: lookup %v %q:\n got %v\nwant %v", seed, step, k, vs, got, want)
				}
				if n := count(x, k, vs...); n != len(want) {
					t.Fatalf("seed %d step %d: count %v %q = %d, want %d", seed, step, k, vs, n, len(want))
				}
			}
		}
		var got []string
		for _, c := range x.All() {
			got = append(got, c.Key())
			if want := m[c.Key()]; c.Progress != want.Progress || !maps.Equal(c.Tags, want.Tags) {
				t.Fatalf("seed %d: All has %+v, model %+v", seed, c, want)
			}
		}
		want := slices.Sorted(maps.Keys(m))
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: All %v, want %v", seed, got, want)
		}
		for k, want := range m {
			c, ok := x.Get(want.Region, want.ImageID)
			if !ok || c.Progress != want.Progress || !maps.Equal(c.Tags, want.Tags) {
				t.Fatalf("seed %d: Get %s = %+v %v, want %+v", seed, k, c, ok, want)
			}
		}
		checkInvariants(t, x)
		// Emptying the index leaves no stale entry behind.
		for _, c := range m {
			x.Delete(c.Region, c.ImageID)
		}
		if len(x.byTag)+len(x.byRegion)+len(x.byImage)+len(x.imageMore)+len(x.byKey) != 0 {
			t.Fatalf("seed %d: not empty after deleting everything: %+v", seed, x)
		}
		if len(x.free) != len(x.slots) {
			t.Fatalf("seed %d: %d free slots of %d", seed, len(x.free), len(x.slots))
		}
	}
}

// checkInvariants checks the internal tables against the slot table: every
// index entry names a live slot holding a copy with that value, every live
// slot is indexed, and free slots are exactly the nil ones.
func checkInvariants(t *testing.T, x *Copies) {
	t.Helper()
	live := 0
	for slot, c := range x.slots {
		if c == nil {
			if !slices.Contains(x.free, int32(slot)) {
				t.Errorf("nil slot %d not on the free list", slot)
			}
			continue
		}
		live++
		if x.byKey[copyKey{c.Region, c.ImageID}] != int32(slot) {
			t.Errorf("slot %d (%s) not in byKey", slot, c.Key())
		}
		if _, ok := x.byRegion[c.Region][int32(slot)]; !ok {
			t.Errorf("slot %d not in byRegion[%s]", slot, c.Region)
		}
		if !slices.Contains(x.imageSlots(c.ImageID), int32(slot)) {
			t.Errorf("slot %d not under image %s", slot, c.ImageID)
		}
		for k, v := range c.Tags {
			if _, ok := x.byTag[k][v][int32(slot)]; !ok {
				t.Errorf("slot %d not in byTag[%s][%s]", slot, k, v)
			}
		}
	}
	if live != len(x.byKey) || live+len(x.free) != len(x.slots) {
		t.Errorf("%d live slots, %d keys, %d free of %d", live, len(x.byKey), len(x.free), len(x.slots))
	}
	for r, s := range x.byRegion {
		if len(s) == 0 {
			t.Errorf("empty set left for region %s", r)
		}
		for slot := range s {
			if c := x.slots[slot]; c == nil || c.Region != r {
				t.Errorf("byRegion[%s] holds slot %d = %v", r, slot, c)
			}
		}
	}
	for k, vals := range x.byTag {
		if len(vals) == 0 {
			t.Errorf("empty value map left for tag %s", k)
		}
		for v, s := range vals {
			if len(s) == 0 {
				t.Errorf("empty set left for tag %s=%s", k, v)
			}
			for slot := range s {
				if c := x.slots[slot]; c == nil || c.Tags[k] != v {
					t.Errorf("byTag[%s][%s] holds slot %d = %v", k, v, slot, c)
				}
			}
		}
	}
	for id, more := range x.imageMore {
		if len(more) == 0 {
			t.Errorf("empty imageMore left for %s", id)
		}
		if _, ok := x.byImage[id]; !ok {
			t.Errorf("imageMore[%s] without byImage", id)
		}
	}
}

// TestGen: a change bumps the generation, a read or a no-op delete does
// not, so an evaluation can trust pointers across two Reads exactly when
// nothing changed in between.
func TestGen(t *testing.T) {
	x := New()
	gen := func() (g uint64) {
		x.Read(func(r Reader) { g = r.Gen() })
		return g
	}
	g0 := gen()
	x.Put(cp("r1", "m-1", 0))
	g1 := gen()
	if g1 == g0 {
		t.Error("Put did not change the generation")
	}
	x.Get("r1", "m-1")
	_ = x.All()
	x.Delete("r9", "m-9")
	if gen() != g1 {
		t.Error("a read or a delete of an unknown copy changed the generation")
	}
	x.Put(cp("r1", "m-1", 5)) // progress only
	g2 := gen()
	if g2 == g1 {
		t.Error("replacing a copy did not change the generation")
	}
	x.Delete("r1", "m-1")
	if gen() == g2 {
		t.Error("Delete did not change the generation")
	}
}

// TestReplaceKeepsPointersStable: a Put stores a new copy rather than
// writing into the old one, so pointers taken under an earlier Read still
// show the copy as it was.
func TestReplaceKeepsPointersStable(t *testing.T) {
	x := New()
	x.Put(cp("r1", "m-1", 10, "team=web"))
	var before []*cloud.Copy
	x.Read(func(r Reader) { before = r.All() })
	x.Put(cp("r1", "m-1", 90, "team=data"))
	if before[0].Progress != 10 || before[0].Tags["team"] != "web" {
		t.Errorf("old pointer now shows %+v", *before[0])
	}
	var after []*cloud.Copy
	x.Read(func(r Reader) { after = r.Lookup(Key{Field: Tag, Tag: "team"}, []string{"data"}) })
	if len(after) != 1 || after[0] == before[0] || after[0].Progress != 90 {
		t.Errorf("lookup after replace: %v", after)
	}
}

func TestLookupUnknownKeys(t *testing.T) {
	x := New()
	x.Put(cp("r1", "m-1", 0, "team=web"))
	for _, k := range []Key{{Field: Tag, Tag: "nope"}, {Field: Field(9)}} {
		if got := lookup(x, k, "web", "r1", "m-1"); got != nil {
			t.Errorf("%v: %v", k, got)
		}
		if n := count(x, k, "web"); n != 0 {
			t.Errorf("%v: count %d", k, n)
		}
	}
	if got := lookup(x, Key{Field: Region}); got != nil {
		t.Errorf("no values: %v", got)
	}
}

func TestKeyValue(t *testing.T) {
	c := cp("r1", "m-1", 0, "team=web", "empty=")
	tests := []struct {
		k    Key
		want string
		ok   bool
	}{
		{Key{Field: Region}, "r1", true},
		{Key{Field: ImageID}, "m-1", true},
		{Key{Field: Tag, Tag: "team"}, "web", true},
		{Key{Field: Tag, Tag: "empty"}, "", true},
		{Key{Field: Tag, Tag: "missing"}, "", false},
		{Key{Field: Field(7)}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.k.Field.String()+tt.k.Tag, func(t *testing.T) {
			if v, ok := tt.k.Value(&c); v != tt.want || ok != tt.ok {
				t.Errorf("got %q %v, want %q %v", v, ok, tt.want, tt.ok)
			}
		})
	}
	var untagged cloud.Copy
	if _, ok := (Key{Field: Tag, Tag: "team"}).Value(&untagged); ok {
		t.Error("a copy with nil tags has a tag")
	}
}

func TestFieldString(t *testing.T) {
	for f, want := range map[Field]string{Region: "region", ImageID: "image_id", Tag: "tags", Field(5): "Field(5)"} {
		if got := f.String(); got != want {
			t.Errorf("%d: %q, want %q", int(f), got, want)
		}
	}
}

func TestDedup(t *testing.T) {
	tests := []struct{ in, want []string }{
		{nil, nil},
		{[]string{"a"}, []string{"a"}},
		{[]string{"b", "a", "b", "a"}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		if got := dedup(in); !slices.Equal(got, tt.want) {
			t.Errorf("dedup(%q) = %q", tt.in, got)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("dedup changed its argument to %q", in)
		}
	}
}
