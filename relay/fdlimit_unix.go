//go:build unix

package relay

import (
	"fmt"
	"syscall"
)

// RaiseOpenFileLimit raises the process's soft open file limit
// (RLIMIT_NOFILE) to its hard limit, as servers do: each connection takes a
// descriptor. It returns the limits in force afterwards.
func RaiseOpenFileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("get open file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return uint64(lim.Cur), uint64(lim.Max), fmt.Errorf("raise open file limit to %d: %w", lim.Max, err)
		}
		lim = raised
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}

// openFileLimit returns the soft open file limit.
func openFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get open file limit: %w", err)
	}
	return uint64(lim.Cur), nil
}
