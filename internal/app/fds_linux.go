package app

import (
	"os"
	"syscall"
)

// countFDs returns the process's open descriptors and its soft limit.
func countFDs() (int, uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, 0, err
	}
	// The directory's own descriptor is one of them.
	return len(names) - 1, rl.Cur, nil
}
