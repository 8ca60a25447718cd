//go:build unix

package store

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// BenchmarkGet measures reads of 1 MiB chunks by 8 concurrent readers,
// each chunk read once, so that a chunk written with O_DIRECT is read from
// the disk, not the page cache (as a get long after the put). It reports
// the process's CPU seconds per GiB read.
func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	cids := make([]chunk.CID, b.N)
	for i := range cids {
		binary.BigEndian.PutUint64(data, uint64(i))
		cids[i] = chunk.Sum(data)
		if err := s.Put(cids[i], [32]byte{1}, data); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range 8 {
		wg.Go(func() {
			buf := make([]byte, 0, len(data)+4096)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(cids)) {
					return
				}
				got, err := s.Get(cids[i], buf[:0])
				if err != nil || chunk.Sum(got) != cids[i] {
					b.Errorf("get %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric((cpuTime(b)-cpu0)*float64(1<<30)/float64(b.N*len(data)), "cpu-s/GiB")
}

// cpuTime returns the process's user and system CPU seconds so far.
func cpuTime(b *testing.B) float64 {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
