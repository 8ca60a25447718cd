//go:build !linux

package store

import (
	"errors"
	"os"
)

// writeFile writes hdr then data to f.
func writeFile(f *os.File, hdr, data []byte) error {
	if _, err := f.Write(hdr); err != nil {
		return err
	}
	_, err := f.Write(data)
	return err
}

// startWriteback does nothing on this platform; the fsync at commit time
// makes the file durable.
func startWriteback(*os.File) {}

// directSupported is false on this platform: chunk files are written
// through the page cache.
func directSupported(string) bool { return false }

// errDirectRefused is never returned on this platform.
var errDirectRefused = errors.New("store: O_DIRECT refused")

// writeDirect writes nothing on this platform (no O_DIRECT).
func writeDirect(*os.File, []byte, []byte) (bool, error) { return false, nil }

// readDirect reads nothing on this platform (no O_DIRECT).
func readDirect(*os.File, int, func([]byte) error) (bool, error) { return false, nil }
