package waitfor_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copyguard/copyguard/internal/waitfor"
)

// fakeTB records what Fatalf said and then stops the goroutine with a
// panic, as testing.T stops it with runtime.Goexit.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestCond(t *testing.T) {
	t.Parallel()
	t.Run("returns once the condition holds", func(t *testing.T) {
		var n atomic.Int32
		waitfor.Cond(t, "three calls", 5*time.Second, func() bool { return n.Add(1) == 3 })
		if got := n.Load(); got != 3 {
			t.Errorf("cond called %d times, want 3", got)
		}
	})
	t.Run("fails naming what it waited for", func(t *testing.T) {
		f := &fakeTB{TB: t}
		start := time.Now()
		func() {
			defer func() {
				if r := recover(); r != f {
					t.Fatalf("Cond did not fail the test (recovered %v)", r)
				}
			}()
			waitfor.Cond(f, "the impossible", 50*time.Millisecond, func() bool { return false })
		}()
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("gave up after %v, before the 50ms timeout", d)
		}
		if want := "timed out after 50ms waiting for the impossible"; f.msg != want {
			t.Errorf("failure = %q, want %q", f.msg, want)
		}
	})
}

func TestUntil(t *testing.T) {
	ctx := context.Background()
	n := 0
	if err := waitfor.Until(ctx, "three calls", time.Minute, time.Millisecond, nil, func() bool { n++; return n == 3 }); err != nil || n != 3 {
		t.Errorf("Until = %v after %d calls, want nil after 3", err, n)
	}
	err := waitfor.Until(ctx, "never", 30*time.Millisecond, time.Millisecond, nil, func() bool { return false })
	if err == nil || err.Error() != "gave up waiting for never after 30ms" {
		t.Errorf("Until past its timeout = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := waitfor.Until(cctx, "never", time.Minute, time.Millisecond, nil, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Errorf("Until on an ended context = %v, want context.Canceled", err)
	}
	wake := make(chan struct{}, 1)
	calls := 0
	wake <- struct{}{}
	if err := waitfor.Until(ctx, "a wake-up", time.Minute, time.Hour, wake, func() bool { calls++; return calls == 2 }); err != nil {
		t.Errorf("Until woken = %v", err)
	}
}
