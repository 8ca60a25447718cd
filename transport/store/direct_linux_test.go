package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// TestDirectWrites puts chunks of sizes around the O_DIRECT block (no
// aligned prefix, a prefix with no tail, a prefix and a tail of one byte, a
// typical shard, the largest chunk) and checks that each chunk file holds
// exactly the header and the data, whichever way it was written, that it
// reads back (Get, Prove, after a reopen), and that the chunks with an
// aligned prefix went to the disk with O_DIRECT where the filesystem takes
// it, and through the page cache on tmpfs or where it is refused.
func TestDirectWrites(t *testing.T) {
	sizes := []struct {
		name   string
		size   int
		direct bool // has a block-aligned prefix
	}{
		{"one byte", 1, false},
		{"a block less one byte", directAlign - headerSize - 1, false},
		{"one block exactly", directAlign - headerSize, true},
		{"one block and one byte", directAlign - headerSize + 1, true},
		{"64 KiB", 64 << 10, true},
		{"1 MiB shard", 1<<20 + chunk.Overhead, true},
		{"odd size", 3<<20 + 12345, true},
		{"largest", MaxChunk, true},
	}
	dirs := []struct {
		name       string
		dir        func(t *testing.T) string
		force      bool // O_DIRECT tried even where Open chose not to
		wantDirect bool
	}{
		{"disk", func(t *testing.T) string { return t.TempDir() }, false, true},
		{"tmpfs", tmpfsDir, false, false},
		{"tmpfs, O_DIRECT forced", tmpfsDir, true, false},
	}
	owner := [32]byte{7}
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
			if !d.wantDirect && s.direct.Load() {
				t.Fatalf("O_DIRECT chosen on %s", d.name)
			}
			if d.force {
				s.direct.Store(true)
			}
			var nDirect int64
			var used int64
			for i, sz := range sizes {
				data := patterned(i, sz.size)
				c := chunk.Sum(data)
				if err := s.Put(c, owner, data); err != nil {
					t.Fatalf("%s: put: %v", sz.name, err)
				}
				used += int64(sz.size)
				if sz.direct {
					nDirect++
				}
				raw, err := os.ReadFile(s.path(c))
				if err != nil {
					t.Fatal(err)
				}
				want := append(append([]byte(fileMagic), owner[:]...), data...)
				if !bytes.Equal(raw, want) {
					t.Fatalf("%s: chunk file of %d bytes differs from the %d of header and data", sz.name, len(raw), len(want))
				}
				got, err := s.Get(c, nil)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: get: %v", sz.name, err)
				}
				ch := [32]byte{byte(i)}
				if p, err := s.Prove(c, ch); err != nil || p != Proof(data, ch) {
					t.Fatalf("%s: prove: %v", sz.name, err)
				}
			}
			got := s.directWrites.Load()
			switch {
			case d.wantDirect && got != nDirect:
				t.Fatalf("%d chunks written with O_DIRECT, want %d", got, nDirect)
			case d.wantDirect && s.directReads.Load() != nDirect:
				t.Fatalf("%d chunks read with O_DIRECT, want %d", s.directReads.Load(), nDirect)
			case !d.wantDirect && !d.force && got != 0:
				t.Fatalf("%d chunks written with O_DIRECT on tmpfs", got)
			}
			tmps, _ := os.ReadDir(filepath.Join(dir, tmpDir))
			if len(tmps) != 0 {
				t.Fatalf("%d temporary files left", len(tmps))
			}
			s2, err := Open(dir, 0)
			if err != nil || s2.Used() != used {
				t.Fatalf("reopen: used %d, want %d: %v", s2.Used(), used, err)
			}
		})
	}
}

// patterned returns n bytes that differ from byte to byte and with i.
func patterned(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*131 + j*7 + j>>12)
	}
	return b
}

// tmpfsDir returns a fresh directory under /dev/shm, removed at the end
// of the test, or skips the test where there is none.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "storetest-")
	if err != nil {
		t.Skipf("/dev/shm: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// TestDirectReadCorrupt: a chunk file whose header is damaged is refused
// with ErrCorrupt on the O_DIRECT read path as on the buffered one.
func TestDirectReadCorrupt(t *testing.T) {
	tests := []struct {
		name   string
		direct bool
	}{
		{"O_DIRECT read", true},
		{"buffered read", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.direct && !s.direct.Load() {
				t.Skip("the filesystem of the temp dir takes no O_DIRECT")
			}
			s.direct.Store(tc.direct)
			data := patterned(1, 1<<20)
			c := chunk.Sum(data)
			if err := s.Put(c, [32]byte{1}, data); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(s.path(c), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("XXXX"), 0); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(c, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("get of a damaged chunk: %v, want ErrCorrupt", err)
			}
			if got := s.directReads.Load(); got != 0 {
				t.Fatalf("%d damaged chunks read as good", got)
			}
		})
	}
}

// TestDirectWriteBypassesPageCache: on a disk filesystem, a stored
// chunk's data is not left in the page cache (mincore over the file finds
// none of its block-aligned prefix resident), which is what a write
// through the page cache leaves behind.
func TestDirectWriteBypassesPageCache(t *testing.T) {
	s, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !s.direct.Load() {
		t.Skip("the filesystem of the temp dir takes no O_DIRECT")
	}
	data := patterned(2, 1<<20+chunk.Overhead)
	c := chunk.Sum(data)
	if err := s.Put(c, [32]byte{1}, data); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(s.path(c))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := headerSize + len(data)
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (size+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	resident := 0
	for _, v := range vec[:size/os.Getpagesize()] { // the aligned prefix
		resident += int(v & 1)
	}
	if resident != 0 {
		t.Fatalf("%d of the chunk's %d aligned pages are in the page cache after the put", resident, size/os.Getpagesize())
	}
}
