package app

import (
	"errors"
	"fmt"
)

// fdHeadroom: readiness fails once the open descriptors reach this share
// of the process's limit. The embedded NATS server shares the limit with
// the worker: past it, NATS accepts no connection and JetStream opens no
// store file, and neither the JetStream probe (it reuses an open
// connection) nor the publish check (an idle worker publishes nothing)
// would notice in time.
const fdHeadroom = 0.9

// errNoFDCount: the platform has no cheap way to count descriptors; the
// check is then skipped.
var errNoFDCount = errors.New("counting open descriptors is not supported here")

// descriptorsOK judges a descriptor count against its limit.
func descriptorsOK(open int, limit uint64, err error) error {
	switch {
	case errors.Is(err, errNoFDCount):
		return nil
	case err != nil:
		// Listing /proc/self/fd takes a descriptor itself: failing to is
		// the surest sign that none are left.
		return fmt.Errorf("count open descriptors: %w", err)
	case limit > 0 && float64(open) >= fdHeadroom*float64(limit):
		return fmt.Errorf("%d file descriptors open, limit %d: new NATS connections and store files would fail", open, limit)
	}
	return nil
}

func (a *App) descriptors() error { return descriptorsOK(countFDs()) }
