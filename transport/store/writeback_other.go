//go:build !linux

package store

import "os"

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
