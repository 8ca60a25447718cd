package cashu_test

import (
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

// BenchmarkVerify: payments verified per second, side by side: a receive
// that swaps at the mint (journaled, over HTTP) and the offline DLEQ check.
func BenchmarkVerify(b *testing.B) {
	m := paytest.StartMint(b)
	ctx := b.Context()
	payer := paytest.Funded(b, 1<<20, nil, m.URL())
	payee := paytest.Wallet(b, nil, m.URL())
	mk := func(n int) []string {
		toks := make([]string, n)
		for i := range toks {
			s, err := payer.Send(ctx, 8, cashu.SendOptions{})
			if err != nil {
				b.Fatal(err)
			}
			toks[i] = s.Token
		}
		return toks
	}
	warm := mk(1)
	if _, err := payee.Receive(ctx, warm[0], cashu.ReceiveOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("receive-swap", func(b *testing.B) {
		b.StopTimer()
		toks := mk(b.N)
		b.StartTimer()
		for i := range b.N {
			if _, err := payee.Receive(ctx, toks[i], cashu.ReceiveOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dleq-offline", func(b *testing.B) {
		tok := mk(1)[0]
		for range b.N {
			if _, err := payee.VerifyOffline(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPayPerMiB: the overhead of paying per MiB in 1 MiB steps, 100 MiB
// at 1 sat/MiB: 100 one-sat token payments (send + receive with swap) against
// one 100-sat payment.
func BenchmarkPayPerMiB(b *testing.B) {
	m := paytest.StartMint(b)
	ctx := b.Context()
	payer := paytest.Funded(b, 1<<22, nil, m.URL())
	payee := paytest.Wallet(b, nil, m.URL())
	pay := func(amount uint64) {
		s, err := payer.Send(ctx, amount, cashu.SendOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := payee.Receive(ctx, s.Token, cashu.ReceiveOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("100x1sat", func(b *testing.B) {
		for range b.N {
			for range 100 {
				pay(1)
			}
		}
	})
	b.Run("1x100sat", func(b *testing.B) {
		for range b.N {
			pay(100)
		}
	})
}
