package cashu_test

import (
	"errors"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// TestPrepareSends: after PrepareSends the prepared sends need no mint
// (they go through with the mint unreachable), an amount past the
// balance is not prepared, the tokens are good and no sat is lost; at a
// mint with an input fee nothing is split.
func TestPrepareSends(t *testing.T) {
	ctx := t.Context()
	m := paytest.StartMint(t)
	proxy := paytest.StartProxy(t, m.URL())
	payer := paytest.Funded(t, 1000, nil, proxy.URL)
	payee := paytest.Wallet(t, nil, proxy.URL)
	amounts := []uint64{37, 37, 37, 100, 5000}
	n, err := payer.PrepareSends(ctx, amounts)
	if err != nil || n != 4 {
		t.Fatalf("prepared %d of %v: %v; want 4", n, amounts, err)
	}
	proxy.SetDown(true)
	var tokens []string
	for _, a := range amounts[:4] {
		s, err := payer.Send(ctx, a, cashu.SendOptions{IncludeFees: true})
		if err != nil {
			t.Fatalf("send %d with the mint down: %v", a, err)
		}
		if s.Amount != a || s.Fee != 0 {
			t.Fatalf("send %d: amount %d fee %d", a, s.Amount, s.Fee)
		}
		tokens = append(tokens, s.Token)
	}
	proxy.SetDown(false)
	var got uint64
	for _, tok := range tokens {
		r, err := payee.Receive(ctx, tok, cashu.ReceiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got += r.Amount
	}
	left, err := payer.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != 211 || left != 1000-211 {
		t.Fatalf("payee got %d, payer kept %d; want 211 and %d", got, left, 1000-211)
	}

	fm := paytest.StartFeeMint(t, 100)
	feePayer := paytest.Funded(t, 1000, nil, fm.URL())
	before, _ := feePayer.UnspentProofs(ctx)
	if n, err := feePayer.PrepareSends(ctx, amounts); err != nil || n != 0 {
		t.Fatalf("fee mint: prepared %d: %v; want 0", n, err)
	}
	if after, _ := feePayer.UnspentProofs(ctx); len(after) != len(before) {
		t.Fatalf("fee mint: %d proofs before, %d after", len(before), len(after))
	}
}

// TestSwapNotSent: a send or a split whose request the mint's port refused
// (it never left this host) fails at once with ErrMintUnreachable, not
// ErrPending, and its inputs are spendable again: nothing waits for a
// restart's Resume, and a send once the mint is back goes through.
func TestSwapNotSent(t *testing.T) {
	ctx := t.Context()
	m := paytest.StartMint(t)
	proxy := paytest.StartProxy(t, m.URL())
	payer := paytest.Funded(t, 100, nil, proxy.URL)
	proxy.SetDown(true)
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"send", func() error { _, err := payer.Send(ctx, 37, cashu.SendOptions{}); return err }},
		{"split", func() error { _, err := payer.PrepareSends(ctx, []uint64{37}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if !errors.Is(err, cashu.ErrMintUnreachable) || errors.Is(err, cashu.ErrPending) {
				t.Fatalf("%s with the mint's port closed: %v; want ErrMintUnreachable, not ErrPending", tc.name, err)
			}
			open, err := payer.Journal().List(ctx, journal.StatePrepared)
			if err != nil || len(open) != 0 {
				t.Fatalf("open ops %+v %v; want none", open, err)
			}
			if b, err := payer.Balance(ctx); err != nil || b != 100 {
				t.Fatalf("balance %d %v; want 100", b, err)
			}
		})
	}
	proxy.SetDown(false)
	if _, err := payer.Send(ctx, 37, cashu.SendOptions{}); err != nil {
		t.Fatalf("send with the mint back: %v", err)
	}
}
