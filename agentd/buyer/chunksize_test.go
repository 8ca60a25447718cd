package buyer

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// TestChunkSizeFor: files from largeFileSize up are put in largeChunkSize
// chunks, smaller ones in chunk.DefaultSize; the share each provider is
// paid for covers a put in either chunk size (a put journaled before large
// chunks may resume, and a file stored then may be repaired).
func TestChunkSizeFor(t *testing.T) {
	tests := []struct {
		name string
		size int64
		want int
	}{
		{"empty", 0, chunk.DefaultSize},
		{"one byte", 1, chunk.DefaultSize},
		{"one chunk", chunk.DefaultSize, chunk.DefaultSize},
		{"just below large", largeFileSize - 1, chunk.DefaultSize},
		{"large", largeFileSize, largeChunkSize},
		{"large plus one", largeFileSize + 1, largeChunkSize},
		{"1 GiB", 1 << 30, largeChunkSize},
		{"1 TiB plus one", 1<<40 + 1, largeChunkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chunkSizeFor(tt.size); got != tt.want {
				t.Fatalf("chunkSizeFor(%d) = %d, want %d", tt.size, got, tt.want)
			}
			for _, n := range []int{1, 2, 3, 5} {
				per := sharePerProvider(tt.size, n)
				for _, S := range []int{chunk.DefaultSize, chunkSizeFor(tt.size)} {
					if s := shareWithChunks(tt.size, n, S); per < s {
						t.Errorf("n=%d: share %d below a put in %d-byte chunks (%d)", n, per, S, s)
					}
				}
				// Never more than a put in 1 MiB chunks plus one large
				// shard (the last stripe's padding).
				if lo := shareWithChunks(tt.size, n, chunk.DefaultSize); per > lo+largeChunkSize+chunk.Overhead {
					t.Errorf("n=%d: share %d, more than %d + one large shard", n, per, lo)
				}
			}
		})
	}
}

// TestLargePutUsesLargeChunks: a put of a file of largeFileSize bytes
// stores largeChunkSize shards (a quarter of the chunk files, each with
// its fsync, link and record), also when interrupted and resumed, and the
// file reads back intact.
func TestLargePutUsesLargeChunks(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	// Two providers: each stripe is one data and one parity shard.
	provs := []*runningProvider{
		startProvider(t, net, "prova", storageCfg(1_000_000)),
		startProvider(t, net, "provb", storageCfg(1_000_000)),
	}
	b, err := New(ctx, net.Node(t, "buyer", 20000), Config{StorageDuration: 7 * 24 * time.Hour, Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, largeFileSize)
	rand.Read(data)
	up := Upload{Path: "/data/large.bin", Name: "large.bin", Size: int64(len(data)), ModTime: time.Unix(1700000000, 7)}
	// Cut after two large stripes, then resume.
	interruptAt(t, b, data, up, 2*largeChunkSize)
	if ps, err := b.UnfinishedPuts(ctx); err != nil || len(ps) != 1 || ps[0].ChunkSize != largeChunkSize {
		t.Fatalf("the interrupted put's journal: %+v %v, want chunk size %d", ps, err, largeChunkSize)
	}
	e, err := b.PutFile(ctx, bytes.NewReader(data), up, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 16 shards of 4 MiB and the manifest on each provider (64 and the
	// manifest in 1 MiB chunks).
	want := largeFileSize/largeChunkSize + 1
	for i, p := range provs {
		if got := chunkFiles(t, p); got != want {
			t.Errorf("provider %d holds %d chunk files, want %d", i, got, want)
		}
	}
	var out bytes.Buffer
	if _, err := b.Get(ctx, e.Root, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("the file read back differs")
	}
}
