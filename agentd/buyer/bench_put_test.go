package buyer

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
)

// BenchmarkPutPaid measures storing a 32 MiB file on three providers
// through the whole market path (discovery, bids, matches, per-step Cashu
// payments, receipts, attestations, SafeBox), with payment steps of 1 and
// 8 MiB and 1 or 4 streams per provider side by side.
func BenchmarkPutPaid(b *testing.B) {
	ctx := b.Context()
	net := agentdtest.Start(b)
	for i, price := range []uint64{2_000_000, 2_100_000, 2_200_000} {
		startProvider(b, net, fmt.Sprintf("p%d", i), storageCfg(price))
	}
	cfg := net.Config("buyer")
	cfg.BudgetPerDay, cfg.BudgetPerCounterparty = 0, 0
	bn, err := agentd.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer bn.Close()
	if err := bn.Wallet.Fund(ctx, 1_000_000); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 32<<20)
	rand.Read(data)
	for _, c := range []struct {
		step    uint64
		streams int
	}{{1 << 20, 4}, {8 << 20, 4}, {1 << 20, 1}, {8 << 20, 1}} {
		b.Run(fmt.Sprintf("step=%dMiB/streams=%d", c.step>>20, c.streams), func(b *testing.B) {
			buy, err := New(ctx, bn, Config{StorageDuration: 24 * time.Hour, StepBytes: c.step, Streams: c.streams})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := buy.Put(ctx, bytes.NewReader(data), "bench", int64(len(data)), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
