package store

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// BenchmarkPut measures durable 1 MiB chunk writes from several concurrent
// writers (as several storage streams do). The store lives in
// $STORE_BENCH_DIR if set (e.g. /dev/shm), else in a temp dir on disk.
func BenchmarkPut(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := benchStore(b)
			data := make([]byte, 1<<20)
			_, _ = rand.Read(data)
			b.SetBytes(int64(len(data)))
			var next atomic.Uint64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < writers; w++ {
				wg.Go(func() {
					buf := append([]byte(nil), data...)
					for {
						i := next.Add(1)
						if i > uint64(b.N) {
							return
						}
						binary.BigEndian.PutUint64(buf, i)
						if err := s.Put(chunk.Sum(buf), [32]byte{1}, buf); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			s.cmu.Lock()
			b.ReportMetric(float64(b.N)/float64(max(s.batches, 1)), "chunks/commit")
			s.cmu.Unlock()
		})
	}
}

// benchStore opens a store for a benchmark in $STORE_BENCH_DIR if set
// (e.g. /dev/shm), else in a temp dir on disk; it is removed after.
func benchStore(b *testing.B) *Store {
	b.Helper()
	dir := b.TempDir()
	if d := os.Getenv("STORE_BENCH_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "storebench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	s, err := Open(dir, 0)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
