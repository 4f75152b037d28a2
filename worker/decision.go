package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/copyguard/copyguard/cloud"
	"github.com/copyguard/copyguard/event"
	"github.com/copyguard/copyguard/policy"
)

// decisionList names the list of a decision event a decided copy goes to.
// Its String is the list's name in the decisions_total metric.
type decisionList int

const (
	listCancel         decisionList = iota // claimed and queued for the actor
	listAlreadyDecided                     // claimed earlier, by another trigger
	listProtected                          // vetoed by a protect policy
	listHeld                               // held: a hold policy, or paused
	listPlanned                            // planned: a plan policy, or dry run
)

func (l decisionList) String() string {
	switch l {
	case listCancel:
		return "cancel"
	case listAlreadyDecided:
		return "already_decided"
	case listProtected, listHeld, listPlanned:
		return string(l.outcome())
	}
	return fmt.Sprintf("decisionList(%d)", int(l))
}

// outcome is the result the decider publishes at once for a copy in l;
// "" for the lists whose copies get no result from the decider (the actor
// reports a cancel; an already decided copy has its result elsewhere).
func (l decisionList) outcome() cloud.Outcome {
	switch l {
	case listCancel, listAlreadyDecided:
		return ""
	case listProtected:
		return cloud.OutcomeProtected
	case listHeld:
		return cloud.OutcomeHeld
	case listPlanned:
		return cloud.OutcomePlanned
	}
	return ""
}

// of returns the list l names in dec.
func (l decisionList) of(dec *event.Decision) *[]event.DecidedCopy {
	switch l {
	case listCancel:
		return &dec.Cancel
	case listAlreadyDecided:
		return &dec.AlreadyDecided
	case listProtected:
		return &dec.Protected
	case listHeld:
		return &dec.Held
	case listPlanned:
		return &dec.Planned
	}
	panic(fmt.Sprintf("worker: %v names no list of a decision", l))
}

// interleaveRegions orders the decisions round-robin over regions. Jobs
// are queued in this order, and every job handler waits on its region's
// rate limiter: queued region by region, all handlers would wait on the
// first region while the others sit idle.
func interleaveRegions(ds []policy.Decision) []int {
	var regions []string
	by := map[string][]int{}
	for i, d := range ds {
		r := d.Copy.Region
		if _, ok := by[r]; !ok {
			regions = append(regions, r)
		}
		by[r] = append(by[r], i)
	}
	order := make([]int, 0, len(ds))
	for k := 0; len(order) < len(ds); k++ {
		for _, r := range regions {
			if k < len(by[r]) {
				order = append(order, by[r][k])
			}
		}
	}
	return order
}

// parallel runs f(0..n-1) on at most width goroutines and returns the
// first error. Small n runs inline: most triggers select a few copies.
// A panic in f is raised again in the caller's goroutine, where the
// handler's recover can see it; in a goroutine of its own it would crash
// the process.
func parallel(ctx context.Context, n, width int, f func(ctx context.Context, i int) error) error {
	if n <= 2 {
		for i := range n {
			if err := f(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var panicked sync.Once
	var panicVal any
	call := func(i int) {
		defer func() {
			if r := recover(); r != nil {
				panicked.Do(func() { panicVal = r })
				cancel(fmt.Errorf("panic: %v", r))
			}
		}()
		if err := f(ctx, i); err != nil {
			cancel(err)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(width, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				call(i)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if panicVal != nil {
		panic(panicVal)
	}
	return context.Cause(ctx)
}
