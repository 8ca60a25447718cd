package tab_test

import (
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/tab"
	"github.com/sovmesh/sovmesh/transport"
)

// sinkServer reads everything a connection sends and then closes it.
func sinkServer(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkBandwidthPerMiB carries 100 MiB through a real libp2p bandwidth
// session (TCP on 127.0.0.1) to a sink, side by side: free (no gate), paid
// from a tab at 1 sat per 1 MiB step (one deposit, then draws of 1 step or
// of up to 8 steps; the tab closed and its change redeemed each iteration),
// and paid with a fresh token every 1 MiB step.
func BenchmarkBandwidthPerMiB(b *testing.B) {
	m := paytest.StartMint(b)
	ctx := b.Context()
	buyerKey := paytest.NewKey(b)
	buyerPub := pubOfB(b, buyerKey)
	buyer := paytest.WalletAt(b, b.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 1<<20); err != nil {
		b.Fatal(err)
	}
	seller := paytest.Wallet(b, nil, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = mib, 1
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		b.Fatal(err)
	}
	cfg.DrawSteps = 8
	k8, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		b.Fatal(err)
	}
	target := sinkServer(b)
	data := make([]byte, 100*mib)
	_, _ = rand.Read(data)
	host := func(secret string) *transport.Host {
		h, err := transport.New(ctx, transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"), transport.WithNostrSecret(secret))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = h.Close() })
		return h
	}
	bh := host(buyerKey)
	for _, tc := range []struct {
		name  string
		gate  transport.PaymentGate
		payer func() transport.Payer
		after func(transport.Payer)
	}{
		{name: "free"},
		{name: "tab", gate: k,
			payer: func() transport.Payer {
				return &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 110}
			},
			after: func(p transport.Payer) {
				ch, err := k.CloseTab(ctx, buyerPub)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.(*tab.Payer).Settle(ctx, ch); err != nil {
					b.Fatal(err)
				}
			}},
		{name: "tab-draw8", gate: k8,
			payer: func() transport.Payer {
				return &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 110}
			},
			after: func(p transport.Payer) {
				ch, err := k8.CloseTab(ctx, buyerPub)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.(*tab.Payer).Settle(ctx, ch); err != nil {
					b.Fatal(err)
				}
			}},
		{name: "token-per-step", gate: tokenGate{seller},
			payer: func() transport.Payer { return tokenPayer{buyer} }},
	} {
		// One provider host per case (a host identity serves one gate).
		ph := host(paytest.NewKey(b))
		ph.ServeBandwidth(transport.BandwidthConfig{Gate: tc.gate, AllowPrivateTargets: true})
		pid, err := bh.Connect(ctx, ph.NostrPubkey(), ph.Addrs())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for range b.N {
				var payer transport.Payer
				if tc.payer != nil {
					payer = tc.payer()
				}
				conn, err := bh.DialBandwidth(ctx, pid, target, payer)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := conn.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := conn.CloseWrite(); err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, conn); err != nil {
					b.Fatal(err)
				}
				_ = conn.Close()
				if tc.after != nil {
					tc.after(payer)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100)/1000, "ms/MiB")
		})
	}
}
