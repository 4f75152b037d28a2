//go:build !linux

package app

func countFDs() (int, uint64, error) { return 0, 0, errNoFDCount }
