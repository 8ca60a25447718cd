package tab_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/tab"
	"github.com/sovmesh/sovmesh/transport"
)

// tokenGate and tokenPayer are the per-step baseline: every pause point is
// paid with a fresh token, redeemed (swapped) at the mint.
type tokenGate struct{ w *cashu.Wallet }

func (g tokenGate) Open(context.Context, transport.Session) (uint64, error) { return 0, nil }
func (g tokenGate) Redeem(ctx context.Context, s transport.Session, tok []byte) (uint64, error) {
	rec, err := g.w.Receive(ctx, string(tok), cashu.ReceiveOptions{Counterparty: s.Buyer})
	return rec.Value * mib, err
}
func (g tokenGate) Close(context.Context, transport.Session, transport.Usage) {}

type tokenPayer struct{ w *cashu.Wallet }

func (p tokenPayer) Pay(ctx context.Context, inv transport.Invoice) ([]byte, error) {
	s, err := p.w.Send(ctx, 1, cashu.SendOptions{})
	return []byte(s.Token), err
}

// BenchmarkPayPerMiB: the time overhead of paying per MiB in 1 MiB steps,
// 100 MiB at 1 sat/MiB, through the PaymentGate/Payer interfaces the
// transport calls at its pause points (real mint over HTTP, fsync'd
// journals): a tab (one deposit, 100 draws, change returned and redeemed)
// against a fresh token per step (100 sends and swaps).
func BenchmarkPayPerMiB(b *testing.B) {
	m := paytest.StartMint(b)
	ctx := b.Context()
	buyerKey := paytest.NewKey(b)
	buyerPub := pubOfB(b, buyerKey)
	buyer := paytest.WalletAt(b, b.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 1<<20); err != nil {
		b.Fatal(err)
	}
	seller := paytest.Wallet(b, nil, m.URL())
	const steps = 100
	run := func(b *testing.B, gate transport.PaymentGate, payer transport.Payer, session string) {
		s := transport.Session{ID: session, Buyer: buyerPub, Protocol: "/bw"}
		credit, err := gate.Open(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		for used := uint64(0); used < steps*mib; used += mib {
			for i := 0; used+mib > credit; i++ {
				if i == 64 {
					b.Fatal("too many payment steps")
				}
				tok, err := payer.Pay(ctx, transport.Invoice{Provider: peer.ID("seller"), Protocol: "/bw", Used: used, Credit: credit, Need: used + mib - credit})
				if err != nil {
					b.Fatal(err)
				}
				u, err := gate.Redeem(ctx, s, tok)
				if err != nil {
					b.Fatal(err)
				}
				credit += u
			}
		}
		gate.Close(ctx, s, transport.Usage{Units: steps * mib})
	}
	b.Run("tab", func(b *testing.B) {
		cfg := tab.DefaultConfig()
		cfg.StepUnits, cfg.StepSats = mib, 1
		k, err := tab.NewKeeper(seller, cfg)
		if err != nil {
			b.Fatal(err)
		}
		for i := range b.N {
			payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: steps + 10}
			run(b, k, payer, fmt.Sprint("tab", i))
			ch, err := k.CloseTab(ctx, buyerPub)
			if err != nil || ch.Amount != 10 {
				b.Fatalf("close %+v %v", ch, err)
			}
			if back, err := payer.Settle(ctx, ch); err != nil || back != 10 {
				b.Fatalf("settle %d %v", back, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*steps)/1000, "ms/MiB")
	})
	b.Run("token-per-step", func(b *testing.B) {
		for i := range b.N {
			run(b, tokenGate{seller}, tokenPayer{buyer}, fmt.Sprint("tok", i))
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*steps)/1000, "ms/MiB")
	})
}
