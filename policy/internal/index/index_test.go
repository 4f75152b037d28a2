package index

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/copyguard/copyguard/cloud"
)

func cp(region, id string, progress int, tags ...string) cloud.Copy {
	c := cloud.Copy{ImageID: id, Region: region, Progress: progress, Status: cloud.StatusCreating, Tags: map[string]string{}}
	for _, kv := range tags {
		k, v, _ := strings.Cut(kv, "=")
		c.Tags[k] = v
	}
	return c
}

// lookup and count make one locked lookup each.
func lookup(x *Copies, k Key, values ...string) (out []string) {
	x.Read(func(r Reader) { out = keys(r.Lookup(k, values)) })
	return out
}

func count(x *Copies, k Key, values ...string) (n int) {
	x.Read(func(r Reader) { n = r.Count(k, values) })
	return n
}

func keys(cs []*cloud.Copy) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Key())
	}
	slices.Sort(out)
	return out
}

func TestIndexPutGetDelete(t *testing.T) {
	x := New()
	x.Put(cp("r1", "m-1", 10, "team=web"))
	x.Put(cp("r2", "m-1", 20, "team=web"))
	x.Put(cp("r1", "m-2", 30, "team=data"))
	if x.Len() != 3 {
		t.Fatalf("len %d", x.Len())
	}
	if c, ok := x.Get("r2", "m-1"); !ok || c.Progress != 20 {
		t.Errorf("get r2/m-1: %+v %v", c, ok)
	}
	if _, ok := x.Get("r3", "m-1"); ok {
		t.Error("found a copy that is not there")
	}
	tag := Key{Field: Tag, Tag: "team"}
	if got := lookup(x, tag, "web"); !slices.Equal(got, []string{"r1/m-1", "r2/m-1"}) {
		t.Errorf("by tag: %v", got)
	}
	// Replacing a copy moves it between tag sets.
	x.Put(cp("r1", "m-1", 50, "team=data"))
	if got := lookup(x, tag, "web"); !slices.Equal(got, []string{"r2/m-1"}) {
		t.Errorf("by old tag after replace: %v", got)
	}
	if got := lookup(x, tag, "data", "data"); !slices.Equal(got, []string{"r1/m-1", "r1/m-2"}) {
		t.Errorf("by new tag after replace (duplicate values): %v", got)
	}
	if x.Len() != 3 {
		t.Errorf("replace changed len to %d", x.Len())
	}
	x.Delete("r1", "m-1")
	x.Delete("r1", "m-1") // twice is fine
	x.Delete("r9", "m-9") // unknown is fine
	if got := lookup(x, Key{Field: Region}, "r1"); !slices.Equal(got, []string{"r1/m-2"}) {
		t.Errorf("by region after delete: %v", got)
	}
	if got := lookup(x, Key{Field: ImageID}, "m-1"); !slices.Equal(got, []string{"r2/m-1"}) {
		t.Errorf("by image after delete: %v", got)
	}

	// A freed slot is reused.
	x.Put(cp("r3", "m-3", 0))
	if len(x.slots) != 3 || x.Len() != 3 {
		t.Errorf("slots %d, len %d", len(x.slots), x.Len())
	}
	all := x.All()
	var got []string
	for _, c := range all {
		got = append(got, c.Key())
	}
	if !slices.Equal(got, []string{"r1/m-2", "r2/m-1", "r3/m-3"}) {
		t.Errorf("All: %v", got)
	}
}

func TestIndexSameImageInSeveralRegions(t *testing.T) {
	x := New()
	byImage := func() []string {
		return lookup(x, Key{Field: ImageID}, "m-1")
	}
	for _, r := range []string{"r1", "r2", "r3"} {
		x.Put(cp(r, "m-1", 0))
	}
	x.Delete("r1", "m-1") // the first one, kept outside imageMore
	if got := byImage(); !slices.Equal(got, []string{"r2/m-1", "r3/m-1"}) {
		t.Errorf("after deleting the first: %v", got)
	}
	x.Delete("r3", "m-1")
	if got := byImage(); !slices.Equal(got, []string{"r2/m-1"}) {
		t.Errorf("after deleting another: %v", got)
	}
	x.Delete("r2", "m-1")
	if len(x.byImage)+len(x.imageMore) != 0 || byImage() != nil {
		t.Errorf("not empty: %v %v", x.byImage, x.imageMore)
	}
}

func TestIndexEmptyTagsAreNotIndexed(t *testing.T) {
	x := New()
	x.Put(cloud.Copy{ImageID: "m-1", Region: "r1"})
	x.Delete("r1", "m-1")
	if len(x.byTag) != 0 || len(x.byRegion) != 0 || len(x.byImage) != 0 || len(x.imageMore) != 0 || len(x.byKey) != 0 {
		t.Errorf("index not empty after delete: %+v", x)
	}
}

func TestIndexCount(t *testing.T) {
	x := New()
	for i := range 10 {
		x.Put(cp(fmt.Sprintf("r%d", i%2), fmt.Sprintf("m-%d", i), 0))
	}
	if n := count(x, Key{Field: Region}, "r0", "r1", "r9"); n != 10 {
		t.Errorf("count %d", n)
	}
}
