//go:build !linux

package store

import (
	"errors"
	"os"
)

var errNoTmpfile = errors.New("store: O_TMPFILE not supported")

// openTmpfile is not supported on this platform: chunk files are written
// to named temporary files.
func openTmpfile(string, string) (*os.File, error) { return nil, errNoTmpfile }

// linkTmpfile is not supported on this platform.
func linkTmpfile(*os.File, string) error { return errNoTmpfile }

// tmpfileSupported is false on this platform.
func tmpfileSupported(string) bool { return false }

// errTmpfileRefused reports whether err is openTmpfile's refusal.
func errTmpfileRefused(err error) bool { return errors.Is(err, errNoTmpfile) }
