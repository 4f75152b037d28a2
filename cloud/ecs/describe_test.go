package ecs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/cloud/ecs"
)

// TestDescribeCopies reads copies by id whatever their status, in one
// call for up to 100 ids; an unknown id is absent from the answer.
func TestDescribeCopies(t *testing.T) {
	e := newEnv(t, nil)
	creating := e.creating(region)
	waiting := e.waiting(region)
	done := e.fixed(region, cloud.StatusAvailable, true)
	failed := e.fixed(region, cloud.StatusCreateFailed, true)
	elsewhere := e.waiting(otherReg)
	ids := []string{creating, waiting, done, failed, elsewhere, "m-unknown0001"}
	copies, err := e.c.DescribeCopies(context.Background(), region, ids)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range copies {
		got[c.ImageID] = fmt.Sprintf("%s %d", c.Status, c.Progress)
	}
	want := map[string]string{creating: "Creating 25", waiting: "Waiting 0", done: "Available 100", failed: "CreateFailed 0"}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q", id, got[id], w)
		}
	}
	if n := e.sim.TotalCalls("DescribeImages"); n != 1 {
		t.Errorf("%d DescribeImages calls, want 1", n)
	}
	many := make([]string, ecs.MaxDescribeIDs+1)
	for i := range many {
		many[i] = fmt.Sprintf("m-x%04d", i)
	}
	if _, err := e.c.DescribeCopies(context.Background(), region, many); err == nil {
		t.Error("101 ids accepted")
	}
	if _, err := e.c.DescribeCopies(context.Background(), region, []string{"m-a,m-b"}); err == nil {
		t.Error("an id with a comma accepted")
	}
}
