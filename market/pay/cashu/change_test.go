package cashu_test

import (
	"errors"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

// TestPayInvoiceChange pays an invoice of another mint through a mint that
// reserves a 5 sat Lightning fee. A mint with NUT-08 change (the stand-in in
// front of the real dev mint) returns the unused reserve on the wallet's
// blank outputs: the payer is out the amount and nothing more, and the
// change is ecash the real mint accepts. gonuts' own mint, without NUT-08,
// keeps the reserve: the payer is out amount + 5 and Paid.Fee says so.
// Change whose DLEQ proofs (NUT-12) are false is refused and the payment
// still stands.
func TestPayInvoiceChange(t *testing.T) {
	const reserve, amount = 5, 21
	for _, tc := range []struct {
		name   string
		nut08  bool
		fee    uint64
		crash  bool
		forge  bool // the change's DLEQ proofs are false
		resume int  // ops Resume completes
	}{
		{name: "NUT-08 change", nut08: true, fee: 0},
		{name: "no NUT-08: the mint keeps the reserve", fee: reserve},
		{name: "NUT-08 change after a crash once the mint answered", nut08: true, fee: 0, crash: true, resume: 1},
		{name: "forged change is refused, the payment stands", nut08: true, forge: true, fee: reserve},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			m := paytest.StartMintWith(t, devmint.Options{FeeReserve: reserve})
			url := m.URL()
			if tc.nut08 {
				n := paytest.StartNUT08Mint(t, m, 0)
				n.Forge = tc.forge
				url = n.URL
			}
			dir, key := t.TempDir(), paytest.NewKey(t)
			payer := paytest.WalletAt(t, dir, key, nil, url)
			if err := payer.Fund(ctx, 100); err != nil {
				t.Fatal(err)
			}
			other := paytest.StartMint(t) // the payee's mint: its invoice is external
			payee := paytest.Wallet(t, nil, other.URL())
			q, err := payee.RequestMint(ctx, "", amount)
			if err != nil {
				t.Fatal(err)
			}
			before := balance(t, payer)
			w := payer
			if tc.crash {
				crashing := paytest.WalletAt(t, dir, key, func(c *cashu.Config) { c.StepHook = stopAt("melt.answered") }, url)
				if _, err := crashing.PayInvoice(ctx, q.Invoice, cashu.PayOptions{Network: "signet"}); !errors.Is(err, cashu.ErrCrashed) {
					t.Fatalf("pay: %v, want the crash", err)
				}
				w = paytest.WalletAt(t, dir, key, nil, url)
				if r, err := w.Resume(ctx); err != nil || r.Completed != tc.resume {
					t.Fatalf("resume %+v %v", r, err)
				}
			} else {
				paid, err := w.PayInvoice(ctx, q.Invoice, cashu.PayOptions{Network: "signet"})
				if err != nil {
					t.Fatalf("pay: %v", err)
				}
				if paid.Amount != amount || paid.Fee != tc.fee {
					t.Fatalf("paid %+v, want %d sat with fee %d", paid, amount, tc.fee)
				}
			}
			if got := balance(t, w); got != before-amount-tc.fee {
				t.Fatalf("payer balance %d, want %d - %d - %d", got, before, amount, tc.fee)
			}
			if got, err := payee.ClaimMint(ctx, q.OpID); err != nil || got != amount {
				t.Fatalf("payee claimed %d, %v; want %d", got, err, amount)
			}
			// All the payer has left, change included, is accepted by the
			// real mint in a swap.
			left := balance(t, w)
			sent, err := w.Send(ctx, left, cashu.SendOptions{})
			if err != nil {
				t.Fatalf("send the %d sat left: %v", left, err)
			}
			next := paytest.Wallet(t, nil, url)
			if rec, err := next.Receive(ctx, sent.Token, cashu.ReceiveOptions{}); err != nil || rec.Amount != left {
				t.Fatalf("the mint took %+v, %v of the %d sat left", rec, err, left)
			}
		})
	}
}
