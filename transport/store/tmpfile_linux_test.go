package store

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// TestChunkFilesUnnamedUntilCommit checks that a chunk file being written
// has no name anywhere in the store until its commit has fsynced it (it is
// created with O_TMPFILE in its shard directory, then linked into place),
// on disk and on tmpfs; that where O_TMPFILE is refused the store falls
// back to a named temporary file; and that either way a damaged chunk file
// is replaced by a put of its chunk, with nothing left behind.
func TestChunkFilesUnnamedUntilCommit(t *testing.T) {
	tests := []struct {
		name    string
		dir     func(t *testing.T) string
		refused bool // O_TMPFILE turned off, as if the filesystem refused it
	}{
		{"disk", func(t *testing.T) string { return t.TempDir() }, false},
		{"tmpfs", tmpfsDir, false},
		{"disk, O_TMPFILE refused", func(t *testing.T) string { return t.TempDir() }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			s, err := Open(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.refused {
				s.tmpfile.Store(false)
			}
			var mu sync.Mutex
			var seen []string // files present while a chunk is fsynced
			s.fsyncFile = func(f *os.File) error {
				mu.Lock()
				seen = append(seen, storeFiles(t, dir)...)
				mu.Unlock()
				return f.Sync()
			}
			owner := [32]byte{9}
			d0, d1 := testChunk(0, 64<<10), testChunk(1, 5000)
			c0, c1 := chunk.Sum(d0), chunk.Sum(d1)
			if err := s.Put(c0, owner, d0); err != nil {
				t.Fatal(err)
			}
			switch {
			case !tc.refused && len(seen) != 0:
				t.Fatalf("files named before the commit: %v", seen)
			case tc.refused && (len(seen) != 1 || filepath.Base(filepath.Dir(seen[0])) != tmpDir):
				t.Fatalf("files named before the commit: %v, want one temporary file", seen)
			}
			// A damaged chunk file (as a crash on a filesystem without
			// ordered data could leave) is replaced.
			if err := os.MkdirAll(filepath.Dir(s.path(c1)), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(s.path(c1), []byte("damaged"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(c1, owner, d1); err != nil {
				t.Fatalf("put over a damaged file: %v", err)
			}
			want := []string{s.path(c0), s.path(c1)}
			slices.Sort(want)
			if got := storeFiles(t, dir); !slices.Equal(got, want) {
				t.Fatalf("files in the store: %v, want %v", got, want)
			}
			s2, err := Open(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range [][]byte{d0, d1} {
				got, err := s2.Get(chunk.Sum(d), nil)
				if err != nil || !bytes.Equal(got, d) {
					t.Fatalf("get %s after reopen: %v", chunk.Sum(d), err)
				}
			}
		})
	}
}

// storeFiles lists the regular files under dir, sorted.
func storeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
