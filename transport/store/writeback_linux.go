package store

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// writeFile writes hdr then data to f in as few system calls as possible.
func writeFile(f *os.File, hdr, data []byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	bufs := [][]byte{hdr, data}
	var werr error
	for len(bufs) > 0 && werr == nil {
		cerr := rc.Write(func(fd uintptr) bool {
			var n int
			n, werr = unix.Writev(int(fd), bufs)
			if werr == unix.EINTR {
				werr = nil
				return true
			}
			if werr == nil && n == 0 {
				werr = io.ErrShortWrite
			}
			for n > 0 && len(bufs) > 0 {
				k := min(n, len(bufs[0]))
				bufs[0] = bufs[0][k:]
				n -= k
				if len(bufs[0]) == 0 {
					bufs = bufs[1:]
				}
			}
			return true
		})
		if cerr != nil {
			return cerr
		}
	}
	return werr
}

// startWriteback asks the kernel to start writing f's pages to disk now,
// so the later fsync waits less. Best effort: errors are ignored (tmpfs and
// some filesystems do not support it; the fsync still makes f durable).
func startWriteback(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	})
}
