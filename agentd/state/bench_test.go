package state

import (
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/nips"
)

// BenchmarkKeepChunk records chunks as a provider does while a put streams
// in (8 streams at once, so group-committed) and reports the process's CPU
// time per chunk recorded: the database's share of a stored chunk.
func BenchmarkKeepChunk(b *testing.B) {
	ctx := b.Context()
	dir := b.TempDir()
	j, err := journal.Open(ctx, filepath.Join(dir, "pay.db"))
	if err != nil {
		b.Fatal(err)
	}
	d, err := Open(ctx, filepath.Join(dir, "agentd.db"), j.DB())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close(); j.Close() })
	if err := d.PutSession(ctx, Session{ID: "s", Role: RoleProvider, Resource: nips.Storage, Duration: 86400}); err != nil {
		b.Fatal(err)
	}
	const writers = 8
	now := time.Now()
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < b.N; i += writers {
				c := KeptChunk{CID: fmt.Sprintf("%064x", i), Owner: "owner", Session: "s", Size: 1 << 20}
				if err := d.KeepChunk(ctx, c, now); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/chunk")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
