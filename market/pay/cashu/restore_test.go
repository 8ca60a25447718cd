package cashu_test

import (
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

// TestRestoreFromKey: a wallet mints, sends (with change), receives, pays an
// invoice (after a split); a wallet on a new data dir with only the same key
// restores exactly its unspent ecash (plus a sent token nobody redeemed),
// twice gives the same balance, and new outputs after the restore are
// accepted by the mint.
func TestRestoreFromKey(t *testing.T) {
	ctx := t.Context()
	m := paytest.StartMint(t)
	other := paytest.StartMint(t)
	key := paytest.NewKey(t)
	a := paytest.WalletAt(t, t.TempDir(), key, nil, m.URL())
	if err := a.Fund(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	b := paytest.Wallet(t, nil, m.URL())
	sent, err := a.Send(ctx, 300, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Receive(ctx, sent.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	back, err := b.Send(ctx, 55, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Receive(ctx, back.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	payee := paytest.Wallet(t, nil, other.URL())
	q, err := payee.RequestMint(ctx, "", 99)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PayInvoice(ctx, q.Invoice, cashu.PayOptions{Network: "signet"}); err != nil {
		t.Fatal(err)
	}
	// A token handed out and never redeemed.
	if _, err := a.Send(ctx, 21, cashu.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	want := balance(t, a)
	if want != 1000-300+55-99-21 {
		t.Fatalf("balance before restore %d", want)
	}
	// The wallet's own journal knows the unredeemed token is the payee's.
	if reps, err := a.Restore(ctx); err != nil || reps[0].Restored != 0 || balance(t, a) != want {
		t.Fatalf("restore on the same wallet: %+v %v, balance %d", reps, err, balance(t, a))
	}

	fresh := paytest.WalletAt(t, t.TempDir(), key, nil, m.URL())
	if got := balance(t, fresh); got != 0 {
		t.Fatalf("new wallet holds %d", got)
	}
	for i, wantRestored := range []uint64{want + 21, 0} {
		reps, err := fresh.Restore(ctx)
		if err != nil {
			t.Fatalf("restore %d: %v", i, err)
		}
		if len(reps) != 1 || reps[0].Mint != m.URL() || reps[0].Restored != wantRestored {
			t.Fatalf("restore %d: %+v, want %d sats restored", i, reps, wantRestored)
		}
		if got := balance(t, fresh); got != want+21 {
			t.Fatalf("restore %d: balance %d, want %d", i, got, want+21)
		}
	}
	// New outputs continue after the restored counters.
	if err := fresh.Fund(ctx, 64); err != nil {
		t.Fatalf("mint after restore: %v", err)
	}
	s, err := fresh.Send(ctx, want+21+64-3, cashu.SendOptions{})
	if err != nil {
		t.Fatalf("spend everything restored: %v", err)
	}
	if _, err := b.Receive(ctx, s.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatalf("payee of restored ecash: %v", err)
	}
	if got := balance(t, fresh); got != 3 {
		t.Fatalf("balance after spending %d, want 3", got)
	}
	// The old wallet's counters are behind the new one's: its next mint
	// collides, restores past them and goes through.
	if err := a.Fund(ctx, 10); err != nil {
		t.Fatalf("mint on the old wallet after the new one's: %v", err)
	}
}

// TestRestoreUnusedKey: a key that never made ecash restores nothing.
func TestRestoreUnusedKey(t *testing.T) {
	ctx := t.Context()
	m := paytest.StartMint(t)
	fresh := paytest.Wallet(t, nil, m.URL())
	reps, err := fresh.Restore(ctx)
	if err != nil || len(reps) != 1 || reps[0].Restored != 0 || reps[0].Signed != 0 {
		t.Fatalf("restore of an unused key: %+v %v", reps, err)
	}
}
