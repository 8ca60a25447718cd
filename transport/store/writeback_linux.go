package store

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"unsafe"

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

// directAlign is the alignment of O_DIRECT writes (buffer address, file
// offset and length): the page size, a multiple of every disk's logical
// block size in use.
const directAlign = 4096

// Filesystems where O_DIRECT saves nothing (the data lives in the page
// cache either way): the store writes through the page cache there.
const (
	tmpfsMagic = 0x01021994
	ramfsMagic = 0x858458f6
)

// directSupported reports whether chunk files in dir should be written with
// O_DIRECT: not on tmpfs or ramfs, and only if the filesystem accepts the
// flag (a probe file is opened with it and removed).
func directSupported(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	if st.Type == tmpfsMagic || st.Type == ramfsMagic {
		return false
	}
	f, err := os.CreateTemp(dir, "direct-probe-*")
	if err != nil {
		return false
	}
	defer os.Remove(f.Name())
	defer f.Close()
	return setDirect(f, true) == nil
}

// setDirect turns O_DIRECT on or off for f's open file description.
func setDirect(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		var fl int
		if fl, serr = unix.FcntlInt(fd, unix.F_GETFL, 0); serr != nil {
			return
		}
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, serr = unix.FcntlInt(fd, unix.F_SETFL, fl)
	})
	if cerr != nil {
		return cerr
	}
	return serr
}

// errDirectRefused says that the filesystem refused an O_DIRECT write;
// nothing of the file is to be trusted and the caller writes it again
// through the page cache.
var errDirectRefused = errors.New("store: O_DIRECT refused")

// writeDirect writes hdr then data to the empty file f at offset 0, the
// block-aligned prefix with O_DIRECT (from an aligned copy, bypassing the
// page cache: the kernel neither copies the data into the cache nor writes
// it back later) and the short tail, if any, through the page cache. The
// file is not durable until fsynced. It returns errDirectRefused if the
// filesystem refuses O_DIRECT, and false if the chunk is too short to have
// an aligned prefix (the caller writes it as usual).
func writeDirect(f *os.File, hdr, data []byte) (bool, error) {
	total := len(hdr) + len(data)
	n := total &^ (directAlign - 1)
	if n == 0 || len(hdr) > n {
		return false, nil
	}
	buf := getAligned(n)
	defer putAligned(buf)
	copy(buf, hdr)
	copy(buf[len(hdr):n], data)
	if err := setDirect(f, true); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return false, errDirectRefused
		}
		return false, err
	}
	if err := pwriteAll(f, buf[:n], 0); err != nil {
		_ = setDirect(f, false)
		if errors.Is(err, unix.EINVAL) {
			return false, errDirectRefused
		}
		return false, err
	}
	if err := setDirect(f, false); err != nil {
		return false, err
	}
	if err := pwriteAll(f, data[n-len(hdr):], int64(n)); err != nil {
		return false, err
	}
	return true, nil
}

// pwriteAll writes all of b to f at off.
func pwriteAll(f *os.File, b []byte, off int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	cerr := rc.Control(func(fd uintptr) {
		for len(b) > 0 {
			n, err := unix.Pwrite(int(fd), b, off)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				werr = fmt.Errorf("pwrite: %w", err)
				return
			}
			if n == 0 {
				werr = io.ErrShortWrite
				return
			}
			b, off = b[n:], off+int64(n)
		}
	})
	if cerr != nil {
		return cerr
	}
	return werr
}

// Aligned buffers for O_DIRECT writes, kept in free lists by power-of-two
// size class (not in a sync.Pool, which the garbage collector empties: a
// fresh buffer costs a page fault per 4 KiB on first use, more CPU than
// the copy into it). At most alignedKeep buffers are kept per class.
const alignedKeep = 8

var alignedFree [bits.UintSize]chan []byte

func init() {
	for i := range alignedFree {
		alignedFree[i] = make(chan []byte, alignedKeep)
	}
}

// getAligned returns a buffer of n bytes (a multiple of directAlign) whose
// address is aligned to directAlign.
func getAligned(n int) []byte {
	class := bits.Len(uint(n - 1))
	select {
	case b := <-alignedFree[class]:
		return b[:n]
	default:
	}
	size := 1 << class
	raw := make([]byte, size+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % directAlign); r != 0 {
		off = directAlign - r
	}
	return raw[off : off+n : off+size]
}

// putAligned gives back a buffer from getAligned.
func putAligned(b []byte) {
	class := bits.Len(uint(cap(b) - 1))
	select {
	case alignedFree[class] <- b:
	default:
	}
}

// readDirect reads the whole file f, of total bytes, with O_DIRECT into an
// aligned buffer and passes its contents to use (valid only during the
// call). A read through the page cache of a chunk written with O_DIRECT
// goes to the disk anyway, and costs the kernel a page allocation and a
// copy per 4 KiB besides. It returns false, with no error, if the file is
// too short to gain or O_DIRECT is refused (the caller reads it as usual).
func readDirect(f *os.File, total int, use func(file []byte) error) (bool, error) {
	if total < directAlign {
		return false, nil
	}
	if err := setDirect(f, true); err != nil {
		return false, nil
	}
	n := (total + directAlign - 1) &^ (directAlign - 1)
	buf := getAligned(n)
	defer putAligned(buf)
	got, err := preadFull(f, buf)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			_ = setDirect(f, false)
			return false, nil
		}
		return false, err
	}
	if got != total {
		return false, fmt.Errorf("read %d of %d bytes", got, total)
	}
	return true, use(buf[:total])
}

// preadFull reads f from offset 0 into b until b is full or the file ends.
func preadFull(f *os.File, b []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var rerr error
	cerr := rc.Control(func(fd uintptr) {
		for got < len(b) {
			n, err := unix.Pread(int(fd), b[got:], int64(got))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				rerr = fmt.Errorf("pread: %w", err)
				return
			}
			if n == 0 {
				return
			}
			got += n
		}
	})
	if cerr != nil {
		return got, cerr
	}
	return got, rerr
}
