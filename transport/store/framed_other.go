//go:build !linux

package store

import "os"

// readDirectInto reads nothing on this platform (no O_DIRECT): the caller
// reads the file as usual.
func readDirectInto(_ *os.File, _ int, buf []byte) ([]byte, bool, error) { return buf, false, nil }
