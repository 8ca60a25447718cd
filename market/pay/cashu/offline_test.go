package cashu_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	gcashu "github.com/elnosh/gonuts/cashu"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

func TestOfflineAcceptance(t *testing.T) {
	m := paytest.StartMint(t)
	proxy := paytest.StartProxy(t, m.URL())
	ctx := t.Context()
	payer := paytest.Funded(t, 200, nil, proxy.URL)
	other := paytest.Wallet(t, nil, proxy.URL)
	seller := paytest.Wallet(t, func(c *cashu.Config) { c.OfflineLimit = 50 }, proxy.URL)
	// The seller has met the mint once (keys cached).
	warm, _ := payer.Send(ctx, 1, cashu.SendOptions{})
	if _, err := seller.Receive(ctx, warm.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	send := func(n uint64) string {
		s, err := payer.Send(ctx, n, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}
	good, doubleSpent, over, pending := send(30), send(16), send(8), send(4)
	noDLEQ := stripDLEQ(t, send(2))
	if _, err := other.Receive(ctx, doubleSpent, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}

	proxy.SetDown(true)
	// Without AllowOffline: refused, and the token stays the payer's.
	if _, err := seller.Receive(ctx, pending, cashu.ReceiveOptions{}); !errors.Is(err, cashu.ErrMintUnreachable) {
		t.Fatalf("without AllowOffline: %v", err)
	}
	for _, tt := range []struct {
		name, token string
		want        error
	}{
		{"good", good, nil},
		{"double spent elsewhere, undetectable offline", doubleSpent, nil},
		{"over the limit", over, cashu.ErrOfflineLimit},
		{"no DLEQ", noDLEQ, cashu.ErrNoDLEQ},
		{"replayed offline", good, cashu.ErrReplayed},
	} {
		rec, err := seller.Receive(ctx, tt.token, cashu.ReceiveOptions{AllowOffline: true})
		if !errors.Is(err, tt.want) {
			t.Fatalf("%s: err %v, want %v", tt.name, err, tt.want)
		}
		if err == nil && !rec.Offline {
			t.Fatalf("%s: not marked offline", tt.name)
		}
	}
	exp, _ := seller.OfflineExposure(ctx)
	if exp[proxy.URL] != 46 {
		t.Fatalf("exposure %v, want 46", exp)
	}
	if r, _ := seller.Resume(ctx); r.Pending != 2 {
		t.Fatalf("resume while down: %+v", r)
	}
	proxy.SetDown(false)
	r, err := seller.Resume(ctx)
	if err != nil || r.Completed != 1 || r.Failed != 1 {
		t.Fatalf("resume: %+v %v", r, err)
	}
	if _, err := seller.Receive(ctx, pending, cashu.ReceiveOptions{}); err != nil {
		t.Fatalf("token refused while the mint was down must be redeemable after: %v", err)
	}
	if b := balance(t, seller) - 4; b != 31 {
		t.Fatalf("seller balance %d, want 31 (1 + 30; the double spend is the bounded loss)", b)
	}
}

// TestCrashResume stops a payment at each journaled step, as a crash
// would, reopens the wallet on the same files and resumes it.
func TestCrashResume(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	for _, step := range []string{"receive.journaled", "receive.swapped"} {
		t.Run(step, func(t *testing.T) {
			payer := paytest.Funded(t, 64, nil, m.URL())
			s, err := payer.Send(ctx, 21, cashu.SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dir, key := t.TempDir(), paytest.NewKey(t)
			crashing := paytest.WalletAt(t, dir, key, func(c *cashu.Config) { c.StepHook = stopAt(step) }, m.URL())
			if _, err := crashing.Receive(ctx, s.Token, cashu.ReceiveOptions{}); !errors.Is(err, cashu.ErrCrashed) {
				t.Fatalf("receive: %v", err)
			}
			w := paytest.WalletAt(t, dir, key, nil, m.URL())
			r, err := w.Resume(ctx)
			if err != nil || r.Completed != 1 {
				t.Fatalf("resume %+v %v", r, err)
			}
			if b := balance(t, w); b != 21 {
				t.Fatalf("balance %d, want 21", b)
			}
		})
	}
	// A crash in a send: before the mint swapped it, resume cancels it (no
	// token existed, and nothing would deliver one now); after, resume
	// restores the token and the payer can take it back.
	for _, tc := range []struct {
		step              string
		completed, failed int
		balance           uint64
	}{
		{step: "send.journaled", failed: 1, balance: 64},
		{step: "send.swapped", completed: 1, balance: 43},
	} {
		t.Run(tc.step, func(t *testing.T) {
			dir, key := t.TempDir(), paytest.NewKey(t)
			crashing := paytest.WalletAt(t, dir, key, nil, m.URL())
			if err := crashing.Fund(ctx, 64); err != nil {
				t.Fatal(err)
			}
			crashing2 := paytest.WalletAt(t, dir, key, func(c *cashu.Config) { c.StepHook = stopAt(tc.step) }, m.URL())
			s, err := crashing2.Send(ctx, 21, cashu.SendOptions{})
			if !errors.Is(err, cashu.ErrCrashed) {
				t.Fatalf("send: %v", err)
			}
			w := paytest.WalletAt(t, dir, key, nil, m.URL())
			if r, err := w.Resume(ctx); err != nil || r.Completed != tc.completed || r.Failed != tc.failed {
				t.Fatalf("resume %+v %v, want %d completed, %d failed", r, err, tc.completed, tc.failed)
			}
			if b := balance(t, w); b != tc.balance {
				t.Fatalf("balance %d, want %d", b, tc.balance)
			}
			op, err := w.Journal().Get(ctx, s.OpID)
			if err != nil {
				t.Fatal(err)
			}
			if tc.failed == 1 {
				if op.State != journal.StateFailed || !strings.Contains(op.Error, "cancelled") {
					t.Fatalf("op %+v, want failed: cancelled", op)
				}
				return
			}
			if rc, err := w.Reclaim(ctx, s.OpID); err != nil || rc.Amount != 21 || balance(t, w) != 64 {
				t.Fatalf("reclaim after resume: %+v %v, balance %d", rc, err, balance(t, w))
			}
		})
	}
	t.Run("mint.journaled", func(t *testing.T) {
		dir, key := t.TempDir(), paytest.NewKey(t)
		crashing := paytest.WalletAt(t, dir, key, func(c *cashu.Config) { c.StepHook = stopAt("mint.journaled") }, m.URL())
		if err := crashing.Fund(ctx, 40); !errors.Is(err, cashu.ErrCrashed) {
			t.Fatal(err)
		}
		w := paytest.WalletAt(t, dir, key, nil, m.URL())
		if r, err := w.Resume(ctx); err != nil || r.Completed != 1 || balance(t, w) != 40 {
			t.Fatalf("resume %+v %v balance %d", r, err, balance(t, w))
		}
	})
	// A crash around the melt: before the request it is not paid and
	// resume refunds the reserved proofs; after the mint answered it is paid,
	// resume records it, the proofs stay spent and the payee gets its sats.
	for _, tc := range []struct {
		step              string
		failed, completed int
		balance           uint64
		paid              bool
	}{
		// 40 sat are 32 + 8: paying 16 first splits them. A crash in the
		// split leaves no payment; resume finishes the split.
		{step: "split.journaled", completed: 1, balance: 40},
		{step: "split.swapped", completed: 1, balance: 40},
		{step: "melt.journaled", failed: 1, balance: 40},
		{step: "melt.answered", completed: 1, balance: 40 - 16, paid: true},
	} {
		t.Run(tc.step, func(t *testing.T) {
			dir, key := t.TempDir(), paytest.NewKey(t)
			w0 := paytest.WalletAt(t, dir, key, nil, m.URL())
			if err := w0.Fund(ctx, 40); err != nil {
				t.Fatal(err)
			}
			payee := paytest.Wallet(t, nil, m.URL())
			q, err := payee.RequestMint(ctx, "", 16)
			if err != nil {
				t.Fatal(err)
			}
			crashing := paytest.WalletAt(t, dir, key, func(c *cashu.Config) { c.StepHook = stopAt(tc.step) }, m.URL())
			if _, err := crashing.PayInvoice(ctx, q.Invoice, cashu.PayOptions{Network: "signet"}); !errors.Is(err, cashu.ErrCrashed) {
				t.Fatalf("pay: %v", err)
			}
			w := paytest.WalletAt(t, dir, key, nil, m.URL())
			if r, err := w.Resume(ctx); err != nil || r.Failed != tc.failed || r.Completed != tc.completed || balance(t, w) != tc.balance {
				t.Fatalf("resume %+v %v balance %d, want %d", r, err, balance(t, w), tc.balance)
			}
			if tc.paid {
				if got, err := payee.ClaimMint(ctx, q.OpID); err != nil || got != 16 {
					t.Fatalf("payee claims %d %v, want 16", got, err)
				}
			}
		})
	}
	_ = filepath.Join
}

func stopAt(step string) func(string) error {
	return func(s string) error {
		if s == step {
			return errors.New("crash")
		}
		return nil
	}
}

func stripDLEQ(t *testing.T, token string) string {
	t.Helper()
	tok, err := gcashu.DecodeToken(token)
	if err != nil {
		t.Fatal(err)
	}
	ps := tok.Proofs()
	for i := range ps {
		ps[i].DLEQ = nil
	}
	t4, _ := gcashu.NewTokenV4(ps, tok.Mint(), gcashu.Sat, false)
	s, _ := t4.Serialize()
	return s
}

func TestPayInvoice(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	payer := paytest.Funded(t, 100, nil, m.URL())
	payee := paytest.Wallet(t, nil, m.URL())
	q, err := payee.RequestMint(ctx, "", 25)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := payee.ClaimMint(ctx, q.OpID); !errors.Is(err, cashu.ErrQuoteUnpaid) {
		// The fake backend marks invoices paid at once; an unpaid one would say so.
		t.Logf("claim before pay: %v", err)
	}
	if _, err := payer.PayInvoice(ctx, q.Invoice, cashu.PayOptions{}); err == nil {
		t.Fatal("signet invoice paid as mainnet")
	}
	paid, err := payer.PayInvoice(ctx, q.Invoice, cashu.PayOptions{Network: "signet"})
	if err != nil {
		t.Fatalf("pay: %v", err)
	}
	if paid.Amount != 25 || paid.Preimage == "" {
		t.Fatalf("paid %+v", paid)
	}
	if b := balance(t, payer); b != 75 {
		t.Fatalf("payer %d, want 75", b)
	}
	if _, err := payee.ClaimMint(ctx, q.OpID); err != nil || balance(t, payee) != 25 {
		t.Fatalf("claim: %v, balance %d", err, balance(t, payee))
	}
}
