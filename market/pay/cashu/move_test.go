package cashu_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

// TestMoveMint: a mint that comes back at a new URL (its port file lost)
// has the same keysets; the wallet moves its ecash there on request and
// spends it. A mint with other keysets is refused, naming them, and
// nothing moves.
func TestMoveMint(t *testing.T) {
	ctx := t.Context()
	mintDir := t.TempDir()
	m, err := devmint.Start(ctx, mintDir, devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	oldURL := m.URL()
	dir, key := t.TempDir(), paytest.NewKey(t)
	w := paytest.WalletAt(t, dir, key, nil, oldURL)
	if err := w.Fund(ctx, 40); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mintDir, devmint.PortFile)); err != nil {
		t.Fatal(err)
	}
	m2, err := devmint.Start(ctx, mintDir, devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m2.Shutdown(c)
	})
	if m2.URL() == oldURL {
		t.Fatal("the mint came back at the same URL; the test needs a new one")
	}
	other := paytest.StartMint(t) // another mint: other keys

	// The wallet now knows the mint by its new URL (and another mint).
	w2 := paytest.WalletAt(t, dir, key, nil, m2.URL(), other.URL())
	if b, _ := w2.MintBalance(ctx, m2.URL()); b != 0 {
		t.Fatalf("balance at the new URL before the move: %d", b)
	}
	_, err = w2.MoveMint(ctx, oldURL, other.URL())
	if !errors.Is(err, cashu.ErrKeysetMismatch) {
		t.Fatalf("move to another mint: %v, want ErrKeysetMismatch", err)
	}
	if b, _ := w2.MintBalance(ctx, oldURL); b != 40 {
		t.Fatalf("a refused move moved ecash: %d sats left at the old URL, want 40", b)
	}
	got, err := w2.MoveMint(ctx, oldURL, m2.URL())
	if err != nil || got != 40 {
		t.Fatalf("move: %d %v, want 40", got, err)
	}
	if b, _ := w2.MintBalance(ctx, m2.URL()); b != 40 {
		t.Fatalf("balance at the new URL: %d, want 40", b)
	}
	// Spendable at the new URL.
	payee := paytest.Wallet(t, nil, m2.URL())
	s, err := w2.Send(ctx, 15, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := payee.Receive(ctx, s.Token, cashu.ReceiveOptions{}); err != nil || r.Amount != 15 {
		t.Fatalf("payee receive: %+v %v", r, err)
	}
	if _, err := w2.MoveMint(ctx, oldURL, m2.URL()); err == nil || !strings.Contains(err.Error(), "no ecash") {
		t.Fatalf("second move: %v", err)
	}
}
