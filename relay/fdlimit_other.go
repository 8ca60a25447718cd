//go:build !unix

package relay

import "errors"

var errNoRlimit = errors.New("open file limits are not supported on this system")

// RaiseOpenFileLimit is not supported here; it returns an error.
func RaiseOpenFileLimit() (soft, hard uint64, err error) { return 0, 0, errNoRlimit }

// openFileLimit is not supported here; it returns an error.
func openFileLimit() (uint64, error) { return 0, errNoRlimit }
