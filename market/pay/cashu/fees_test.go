package cashu_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

// recordingBudget allows everything and records what was reserved and paid.
type recordingBudget struct {
	mu       sync.Mutex
	reserved []uint64
	paid     uint64
}

func (b *recordingBudget) Reserve(_ context.Context, _ string, sats uint64) (func(context.Context, bool) error, error) {
	b.mu.Lock()
	b.reserved = append(b.reserved, sats)
	b.mu.Unlock()
	return func(_ context.Context, paid bool) error {
		if paid {
			b.mu.Lock()
			b.paid += sats
			b.mu.Unlock()
		}
		return nil
	}, nil
}

func (b *recordingBudget) last() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reserved) == 0 {
		return 0
	}
	return b.reserved[len(b.reserved)-1]
}

func TestSendIncludeFees(t *testing.T) {
	for _, ppk := range []uint{100, 600, 1000} {
		m := paytest.StartFeeMint(t, ppk)
		bud := &recordingBudget{}
		a := paytest.Funded(t, 2000, func(c *cashu.Config) { c.Budget = bud }, m.URL())
		b := paytest.Wallet(t, nil, m.URL())
		for _, amount := range []uint64{1, 2, 3, 7, 37, 64, 255} {
			t.Run(fmt.Sprintf("ppk%d/%dsat", ppk, amount), func(t *testing.T) {
				ctx := t.Context()
				before, payeeBefore := balance(t, a), balance(t, b)
				sent, err := a.Send(ctx, amount, cashu.SendOptions{Counterparty: b.PublicKey(), IncludeFees: true})
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				if sent.IncludedFee == 0 || sent.Fee < sent.IncludedFee {
					t.Fatalf("fees not reported: %+v", sent)
				}
				info, err := cashu.Inspect(sent.Token)
				if err != nil || info.Amount != amount+sent.IncludedFee {
					t.Fatalf("token is %d sat (%v), want %d + %d", info.Amount, err, amount, sent.IncludedFee)
				}
				if got := balance(t, a); got != before-amount-sent.Fee {
					t.Fatalf("payer balance %d, want %d - %d - %d", got, before, amount, sent.Fee)
				}
				if got := bud.last(); got != amount+sent.Fee {
					t.Fatalf("budget reserved %d, want %d + %d", got, amount, sent.Fee)
				}
				rec, err := b.Receive(ctx, sent.Token, cashu.ReceiveOptions{Amount: amount})
				if err != nil {
					t.Fatalf("receive: %v", err)
				}
				if rec.Amount != amount || rec.Value-rec.Amount != sent.IncludedFee {
					t.Fatalf("received %+v, want %d net of the fee %d", rec, amount, sent.IncludedFee)
				}
				if got := balance(t, b); got != payeeBefore+amount {
					t.Fatalf("payee balance %d, want %d + %d", got, payeeBefore, amount)
				}
			})
		}
	}
}

func TestSendWithoutFeesRefused(t *testing.T) {
	m := paytest.StartFeeMint(t, 100)
	a := paytest.Funded(t, 500, nil, m.URL())
	b := paytest.Wallet(t, nil, m.URL())
	for _, tc := range []struct {
		name   string
		amount uint64
		opts   cashu.ReceiveOptions
		want   string
	}{
		{"price", 20, cashu.ReceiveOptions{Amount: 20}, "after the mint fee"},
		{"fee only", 1, cashu.ReceiveOptions{}, "does not cover the mint fee"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			sent, err := a.Send(ctx, tc.amount, cashu.SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sent.IncludedFee != 0 {
				t.Fatalf("included a fee unasked: %+v", sent)
			}
			_, err = b.Receive(ctx, sent.Token, tc.opts)
			if !errors.Is(err, cashu.ErrWrongAmount) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("receive: %v, want ErrWrongAmount %q", err, tc.want)
			}
			if strings.Contains(err.Error(), sent.Token) {
				t.Fatal("token in the error")
			}
			if balance(t, b) != 0 {
				t.Fatal("payee credited")
			}
		})
	}
}

// TestReclaimIncludedFees: a token with the payee's fee included comes back
// whole to the payer (its swap uses that fee); only Sent.Fee is lost.
func TestReclaimIncludedFees(t *testing.T) {
	m := paytest.StartFeeMint(t, 100)
	a := paytest.Funded(t, 500, nil, m.URL())
	ctx := t.Context()
	before := balance(t, a)
	sent, err := a.Send(ctx, 42, cashu.SendOptions{IncludeFees: true})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.Reclaim(ctx, sent.OpID)
	if err != nil || rc.Amount != 42 {
		t.Fatalf("reclaimed %+v, %v; want 42", rc, err)
	}
	if got := balance(t, a); got != before-sent.Fee {
		t.Fatalf("balance %d, want %d - %d", got, before, sent.Fee)
	}
}

// TestPayInvoiceInputFees pays invoices from a mint that charges input fees
// (NUT-02): the melt's inputs must be worth the quote plus their own fee
// exactly, since gonuts' mint keeps any excess. The payer's balance drops by
// the amount and Paid.Fee, nothing more, and the budget covered both.
func TestPayInvoiceInputFees(t *testing.T) {
	for _, ppk := range []uint{100, 1000} {
		m := paytest.StartFeeMint(t, ppk)
		bud := &recordingBudget{}
		payer := paytest.Funded(t, 3000, func(c *cashu.Config) { c.Budget = bud }, m.URL())
		payee := paytest.Wallet(t, nil, m.URL())
		for _, amount := range []uint64{1, 3, 37, 64, 255, 37} {
			t.Run(fmt.Sprintf("ppk%d/%dsat", ppk, amount), func(t *testing.T) {
				ctx := t.Context()
				q, err := payee.RequestMint(ctx, "", amount)
				if err != nil {
					t.Fatal(err)
				}
				before := balance(t, payer)
				paid, err := payer.PayInvoice(ctx, q.Invoice, cashu.PayOptions{Network: "signet"})
				if err != nil {
					t.Fatalf("pay %d sat: %v", amount, err)
				}
				if paid.Amount != amount || paid.Preimage == "" || paid.Fee == 0 {
					t.Fatalf("paid %+v, want %d sat with the input fees", paid, amount)
				}
				if got := balance(t, payer); got != before-amount-paid.Fee {
					t.Fatalf("payer balance %d, want %d - %d - %d (sats lost to the mint)", got, before, amount, paid.Fee)
				}
				if got := bud.last(); got < amount+paid.Fee {
					t.Fatalf("budget reserved %d, less than the %d + %d paid", got, amount, paid.Fee)
				}
				claimed, err := payee.ClaimMint(ctx, q.OpID)
				if err != nil || claimed != amount {
					t.Fatalf("payee claimed %d, %v; want %d", claimed, err, amount)
				}
			})
		}
	}
}
