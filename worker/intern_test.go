package worker

import (
	"testing"

	"github.com/copyguard/copyguard/cloud"
)

func TestInternSharesTagMaps(t *testing.T) {
	var in interner
	a := cloud.Copy{Region: "cn-shanghai", Tags: map[string]string{"cost-center": "a", "env": "prod"}}
	b := cloud.Copy{Region: "cn-shanghai", Tags: map[string]string{"env": "prod", "cost-center": "a"}}
	c := cloud.Copy{Region: "cn-shanghai", Tags: map[string]string{"cost-center": "b", "env": "prod"}}
	in.copy(&a)
	in.copy(&b)
	in.copy(&c)
	same := func(x, y map[string]string) bool {
		x["__probe"] = "1"
		defer delete(x, "__probe")
		return y["__probe"] == "1"
	}
	if !same(a.Tags, b.Tags) {
		t.Error("equal tag sets are not shared")
	}
	if same(a.Tags, c.Tags) {
		t.Error("different tag sets are shared")
	}
	if b.Tags["cost-center"] != "a" || c.Tags["cost-center"] != "b" {
		t.Errorf("tags changed: %v %v", b.Tags, c.Tags)
	}
	empty := cloud.Copy{Tags: map[string]string{}}
	in.copy(&empty)
	if empty.Tags != nil {
		t.Error("an empty tag map is kept")
	}
}

func TestInternBounded(t *testing.T) {
	var in interner
	for i := range maxTagSets + 10 {
		c := cloud.Copy{Tags: map[string]string{"i": string(rune('a'+i%26)) + string(rune(i))}}
		in.copy(&c)
	}
	if len(in.tags) > maxTagSets {
		t.Fatalf("%d tag sets kept, bound is %d", len(in.tags), maxTagSets)
	}
}
