package store

import (
	"fmt"
	"io"
	"slices"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// MaxFrameRoom is the most room GetFramed leaves before a chunk's data.
const MaxFrameRoom = headerSize

// GetFramed calls send with chunk c's data preceded by room free bytes
// (at most MaxFrameRoom), for a caller that writes a frame header there
// and sends header and data in one write. A chunk read with O_DIRECT is
// passed in the aligned buffer it was read into, where the file's own
// header leaves the room: no copy of the data is made (Get copies it out,
// and for a 4 MiB chunk that copy, out of the cache, costs as much CPU as
// the disk read). That buffer is buf if it is aligned and large enough,
// else a new aligned one, returned for the next call. Otherwise the chunk
// is read into buf (grown as needed) after room bytes. The slice passed
// to send is valid only during the call. GetFramed returns buf, for
// reuse, and send's error as is.
//
// A provider serves GETs through GetFramed when its store has it, so a
// store that wraps a *Store and changes what Get returns must override
// GetFramed too: the embedded one would bypass its Get.
func (s *Store) GetFramed(c chunk.CID, room int, buf []byte, send func(frame []byte) error) ([]byte, error) {
	if room < 0 || room > MaxFrameRoom {
		return buf, fmt.Errorf("store: get: room of %d bytes, at most %d", room, MaxFrameRoom)
	}
	f, size, err := s.openChunk(c)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	if s.direct.Load() {
		file, ok, err := readDirectInto(f, headerSize+size, buf)
		buf = file[:0] // aligned: kept for the caller's next read
		if err != nil {
			return buf, fmt.Errorf("%w: %s: %v", ErrCorrupt, c, err)
		}
		if ok {
			if string(file[:4]) != fileMagic {
				return buf, fmt.Errorf("%w: %s header", ErrCorrupt, c)
			}
			s.directReads.Add(1)
			return buf, send(file[headerSize-room:])
		}
	}
	if err := readHeader(f, c); err != nil {
		return buf, err
	}
	buf = slices.Grow(buf[:0], room+size)[:room+size]
	if _, err := io.ReadFull(f, buf[room:]); err != nil {
		return buf, fmt.Errorf("%w: %s: %v", ErrCorrupt, c, err)
	}
	return buf, send(buf)
}
