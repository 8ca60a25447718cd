package store

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readDirectInto reads the whole file f, of total bytes, with O_DIRECT into
// buf if it is aligned to directAlign and large enough, else into a new
// aligned buffer of the file's size, and returns the buffer holding the
// file (its start aligned, for the caller to pass again) and true. The
// buffer is the caller's to keep: a provider's stream reads every chunk
// it serves into one buffer, as it did into its frame buffer, where
// buffers from getAligned's free list, held while the chunk is sent, would
// outnumber it and be allocated afresh. It returns buf and false, with no
// error, if the file is too short to gain or O_DIRECT is refused.
func readDirectInto(f *os.File, total int, buf []byte) ([]byte, bool, error) {
	if total < directAlign {
		return buf, false, nil
	}
	if err := setDirect(f, true); err != nil {
		return buf, false, nil
	}
	n := (total + directAlign - 1) &^ (directAlign - 1)
	if cap(buf) < n || uintptr(unsafe.Pointer(unsafe.SliceData(buf[:1])))%directAlign != 0 {
		raw := make([]byte, n+directAlign)
		off := 0
		if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % directAlign); r != 0 {
			off = directAlign - r
		}
		buf = raw[off : off+n : off+n]
	}
	got, err := preadFull(f, buf[:n])
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			_ = setDirect(f, false)
			return buf, false, nil
		}
		return buf, false, err
	}
	if got != total {
		return buf, false, fmt.Errorf("read %d of %d bytes", got, total)
	}
	return buf[:total], true, nil
}
