package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// TestGetFramed reads chunks of sizes around the O_DIRECT block with
// GetFramed, on disk (read with O_DIRECT, passed in place) and on tmpfs
// (read into the caller's buffer), and checks that send sees room bytes
// then exactly the chunk's data, that the chunks with an aligned prefix
// were read with O_DIRECT on disk, and that a missing chunk, a room too
// large and send's own error come back as such.
func TestGetFramed(t *testing.T) {
	sizes := []int{1, directAlign - headerSize - 1, directAlign - headerSize, 1<<20 + chunk.Overhead, MaxChunk}
	dirs := []struct {
		name       string
		dir        func(t *testing.T) string
		wantDirect bool
	}{
		{"disk", func(t *testing.T) string { return t.TempDir() }, true},
		{"tmpfs", tmpfsDir, false},
	}
	owner := [32]byte{7}
	errSend := errors.New("send failed")
	for _, d := range dirs {
		t.Run(d.name, func(t *testing.T) {
			dir := d.dir(t)
			s, err := Open(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			if d.wantDirect && !s.direct.Load() {
				t.Skipf("the filesystem of %s takes no O_DIRECT", dir)
			}
			var buf []byte
			var nDirect int64
			for i, size := range sizes {
				data := patterned(i, size)
				c := chunk.Sum(data)
				if err := s.Put(c, owner, data); err != nil {
					t.Fatalf("%d bytes: put: %v", size, err)
				}
				if size+headerSize >= directAlign {
					nDirect += 5 // three rooms, Get, the failed send
				}
				for _, room := range []int{0, 5, MaxFrameRoom} {
					calls := 0
					before := buf
					buf, err = s.GetFramed(c, room, buf, func(frame []byte) error {
						calls++
						if len(frame) != room+size || !bytes.Equal(frame[room:], data) {
							t.Fatalf("%d bytes, room %d: frame of %d bytes does not hold the chunk after the room", size, room, len(frame))
						}
						// Read with O_DIRECT into the caller's buffer once
						// it is an aligned one large enough.
						if d.wantDirect && room > 0 && size+headerSize >= directAlign && cap(before) >= size+headerSize &&
							&frame[0] != &before[:headerSize-room+1][headerSize-room] {
							t.Fatalf("%d bytes, room %d: not read into the buffer of the call before", size, room)
						}
						clear(frame[:room]) // the caller writes there
						return nil
					})
					if err != nil || calls != 1 {
						t.Fatalf("%d bytes, room %d: %v after %d calls of send", size, room, err, calls)
					}
				}
				if got, err := s.Get(c, nil); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%d bytes: get after GetFramed wrote in its room: %v", size, err)
				}
				if _, err := s.GetFramed(c, 0, buf, func([]byte) error { return errSend }); !errors.Is(err, errSend) {
					t.Fatalf("%d bytes: send's error came back as %v", size, err)
				}
			}
			if d.wantDirect && s.directReads.Load() != nDirect {
				t.Fatalf("%d chunks read with O_DIRECT, want %d", s.directReads.Load(), nDirect)
			}
			if !d.wantDirect && s.directReads.Load() != 0 {
				t.Fatalf("%d chunks read with O_DIRECT on tmpfs", s.directReads.Load())
			}
			if _, err := s.GetFramed(chunk.Sum([]byte("absent")), 0, nil, func([]byte) error { return nil }); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a missing chunk: %v", err)
			}
			c := chunk.Sum(patterned(0, 1))
			if _, err := s.GetFramed(c, MaxFrameRoom+1, nil, func([]byte) error { return nil }); err == nil {
				t.Fatal("a room over MaxFrameRoom was taken")
			}
		})
	}
}
