package store

import (
	"os"
	"sync"
	"testing"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// TestPutsSyncNoStoreDir checks that puts into a store, new or reopened,
// never fsync the store's own directory: Open made every shard directory
// and its entry durable, so the data path fsyncs only chunk files and the
// shard directories their names are linked into. The chunks read back
// after a reopen.
func TestPutsSyncNoStoreDir(t *testing.T) {
	tests := []struct {
		name   string
		reopen bool // put into a store opened a second time
	}{
		{name: "new store"},
		{name: "reopened store", reopen: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tt.reopen {
				if s, err = Open(dir, 0); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			var rootSyncs int
			s.fsyncDir = func(d string) error {
				if d == dir {
					mu.Lock()
					rootSyncs++
					mu.Unlock()
				}
				return syncDir(d)
			}
			var owner [32]byte
			var cids []chunk.CID
			for i := range 64 { // 64 chunks: most land in a shard directory of their own
				data := testChunk(i, 4<<10)
				c := chunk.Sum(data)
				if err := s.Put(c, owner, data); err != nil {
					t.Fatal(err)
				}
				cids = append(cids, c)
			}
			if rootSyncs != 0 {
				t.Errorf("64 puts fsynced the store's directory %d times, want 0", rootSyncs)
			}
			s2, err := Open(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cids {
				got, err := s2.Get(c, nil)
				if err != nil || chunk.Sum(got) != c {
					t.Fatalf("chunk %s after reopen: %v", c, err)
				}
			}
			if _, err := os.Stat(s2.path(cids[0])); err != nil {
				t.Fatal(err)
			}
		})
	}
}
