package blossom

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/transport/store"
)

// TestBlobsReopenAndSweep: blobs survive a restart and count in the chunk
// store's quota again; leftovers of a crash are removed; a blob goes when
// its paid period ends, and its bytes go back to the quota.
func TestBlobsReopenAndSweep(t *testing.T) {
	dir := t.TempDir()
	q, err := store.Open(filepath.Join(dir, "chunks"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openBlobs(filepath.Join(dir, "blossom"), q)
	if err != nil {
		t.Fatal(err)
	}
	put := func(b *blobs, sha string, data []byte, owner string, until int64) {
		t.Helper()
		if err := q.Reserve(int64(len(data))); err != nil {
			t.Fatal(err)
		}
		f, err := b.tempFile()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Write(data)
		f.Close()
		if _, used, err := b.add(sha, f.Name(), int64(len(data)), "text/plain", owner, until, 1); err != nil {
			t.Fatal(err)
		} else if !used {
			q.Release(int64(len(data)))
		}
	}
	shaA, shaB := "aa"+hex62('a'), hex62('b')+"bb"
	now := time.Unix(10_000, 0)
	put(b, shaA, make([]byte, 300), "alice", now.Unix()-1)
	put(b, shaB, make([]byte, 200), "alice", now.Unix()+100)
	put(b, shaB, make([]byte, 200), "bob", now.Unix()+50) // already there: no second copy
	if q.Used() != 500 {
		t.Fatalf("used %d", q.Used())
	}
	if err := q.Reserve(600); err == nil {
		t.Fatal("the chunk store's quota does not count the blobs")
	}
	// A crash mid-upload and a sidecar without its blob.
	_ = os.WriteFile(filepath.Join(dir, "blossom", tmpDir, "up-1"), []byte("x"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "blossom", hex62('c')+"cc.json"), []byte(`{"size":3,"owners":{"x":1}}`), 0o600)

	q2, err := store.Open(filepath.Join(dir, "chunks"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	q = q2
	b2, err := openBlobs(filepath.Join(dir, "blossom"), q2)
	if err != nil {
		t.Fatal(err)
	}
	if q2.Used() != 500 || len(b2.index) != 2 {
		t.Fatalf("after restart: used %d, %d blobs", q2.Used(), len(b2.index))
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "blossom", tmpDir)); len(left) != 0 {
		t.Fatalf("%d leftovers", len(left))
	}
	if got := b2.list("bob", 0, 0, 10); len(got) != 1 || got[0].sha != shaB {
		t.Fatalf("bob's list %v", got)
	}
	if n, err := b2.sweep(now); err != nil || n != 1 || q2.Used() != 200 {
		t.Fatalf("sweep: %d %v, used %d", n, err, q2.Used())
	}
	if err := b2.remove(shaB, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b2.get(shaB); !ok {
		t.Fatal("bob's blob went with alice's delete")
	}
	if err := b2.remove(shaB, "bob"); err != nil || q2.Used() != 0 {
		t.Fatalf("last owner's delete: %v, used %d", err, q2.Used())
	}
}

func hex62(c byte) string {
	b := make([]byte, 62)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
