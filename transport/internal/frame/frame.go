// Package frame reads and writes the length-prefixed frames that every
// sovmesh transport protocol uses: a 4-byte big-endian length n, then n
// bytes of payload whose first byte is the frame type. n is at least 1 and
// at most a hard maximum chosen by the reader.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// HeaderSize is the number of bytes before the frame body: length and type.
const HeaderSize = 5

// HardMax is the largest payload any reader accepts, whatever it is told.
const HardMax = 16 << 20

// Errors returned by Reader.
var (
	ErrTooLarge  = errors.New("frame: too large")
	ErrEmpty     = errors.New("frame: empty")
	ErrTruncated = errors.New("frame: truncated")
)

// Reader reads frames from an io.Reader. Its body buffer is reused: a body
// stays valid only until the next call to Next.
//
// A Next that fails before the frame's length is read (a read deadline
// while waiting for the next frame) may be called again: it resumes where
// it stopped, with the length bytes read so far. Once OnHeader has been
// called, an error leaves the stream inside a frame; do not read on.
type Reader struct {
	// OnHeader, if set, is called after a frame's length is read and
	// before its body is read (to set a tighter deadline for the body).
	OnHeader func()

	r   io.Reader
	max int
	hdr [HeaderSize]byte
	hn  int // length bytes of the next frame read so far
	buf []byte
}

// NewReader returns a Reader that refuses payloads larger than max bytes
// (type byte included); max is capped at HardMax.
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 || max > HardMax {
		max = HardMax
	}
	return &Reader{r: r, max: max}
}

// Next reads one frame. It returns io.EOF only when the stream ended cleanly
// between frames; a stream ending inside a frame gives ErrTruncated.
func (fr *Reader) Next() (typ byte, body []byte, err error) {
	return fr.NextInto(nil)
}

// NextInto is Next, but reads the body into dst[:n] when it fits in dst's
// capacity (so a large body lands where the caller wants it, with no extra
// copy); otherwise into the Reader's own buffer.
func (fr *Reader) NextInto(dst []byte) (typ byte, body []byte, err error) {
	n, err := io.ReadFull(fr.r, fr.hdr[fr.hn:4])
	fr.hn += n
	if err != nil {
		if err == io.EOF && fr.hn == 0 {
			return 0, nil, io.EOF
		}
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("%w: header", ErrTruncated)
		}
		return 0, nil, err
	}
	fr.hn = 0
	size := binary.BigEndian.Uint32(fr.hdr[:4])
	if size == 0 {
		return 0, nil, ErrEmpty
	}
	if uint64(size) > uint64(fr.max) {
		return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, fr.max)
	}
	if fr.OnHeader != nil {
		fr.OnHeader()
	}
	if _, err := io.ReadFull(fr.r, fr.hdr[4:5]); err != nil {
		return 0, nil, truncated(err)
	}
	bodyLen := int(size) - 1
	if cap(dst) >= bodyLen {
		body = dst[:bodyLen]
	} else {
		if cap(fr.buf) < bodyLen {
			fr.buf = make([]byte, bodyLen)
		}
		body = fr.buf[:bodyLen]
	}
	if _, err := io.ReadFull(fr.r, body); err != nil {
		return 0, nil, truncated(err)
	}
	return fr.hdr[4], body, nil
}

// PutHeader writes into hdr[:HeaderSize] the header of a frame of type typ
// whose body is n bytes, for a caller that keeps HeaderSize bytes free
// before the body in its own buffer and sends the frame in one Write,
// without the copy Write makes.
func PutHeader(hdr []byte, typ byte, n int) {
	binary.BigEndian.PutUint32(hdr[:4], uint32(1+n))
	hdr[4] = typ
}

// CopyMax is the largest frame Write sends in one call.
const CopyMax = 64 << 10

// writeBufs are Write's buffers for frames up to CopyMax.
var writeBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, HeaderSize+CopyMax)
	return &b
}}

func truncated(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: body", ErrTruncated)
	}
	return err
}

// Write writes one frame of type typ whose body is the concatenation of
// parts. Frames up to CopyMax go out in one Write call (from a pooled
// buffer): over libp2p each Write is a muxer frame and a TLS record of its
// own, so a separate header write costs a record and a syscall per frame.
// Larger ones go as the header followed by each part, so big bodies are
// never copied.
func Write(w io.Writer, typ byte, parts ...[]byte) error {
	total := 1
	for _, p := range parts {
		total += len(p)
	}
	if total > HardMax {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, total)
	}
	if total <= CopyMax {
		bp := writeBufs.Get().(*[]byte)
		buf := append((*bp)[:0], 0, 0, 0, 0, typ)
		binary.BigEndian.PutUint32(buf, uint32(total))
		for _, p := range parts {
			buf = append(buf, p...)
		}
		_, err := w.Write(buf)
		*bp = buf
		writeBufs.Put(bp)
		return err
	}
	var hdr [HeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(total))
	hdr[4] = typ
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}
