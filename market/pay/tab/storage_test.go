package tab_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/tab"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

// TestTabOverStorage: chunks stored and read back over the real storage
// protocol, paid from a tab per 256 KiB of chunk data.
func TestTabOverStorage(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 64); err != nil {
		t.Fatal(err)
	}
	seller := paytest.Wallet(t, nil, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = 256<<10, 1
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	prov := newHost(t, paytest.NewKey(t))
	prov.ServeStorage(st, k)
	bh := newHost(t, buyerKey)
	pid, err := bh.Connect(ctx, prov.NostrPubkey(), prov.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 4}
	sc := bh.Storage(pid, payer)
	var chunks [][]byte
	for range 6 {
		data := make([]byte, 256<<10)
		_, _ = rand.Read(data)
		if err := sc.Put(ctx, chunk.Sum(data), data); err != nil {
			t.Fatalf("put: %v", err)
		}
		chunks = append(chunks, data)
	}
	for _, data := range chunks {
		got, err := sc.Get(ctx, chunk.Sum(data), nil)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get: %d bytes, %v", len(got), err)
		}
	}
	tb, err := k.Tab(ctx, buyerPub)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Debited > tb.Deposited || tb.Debited*cfg.StepUnits < tb.Carry {
		t.Fatalf("tab %+v", tb)
	}
	used := tb.Debited*cfg.StepUnits - tb.Carry // units the streams used
	ch, err := k.CloseTab(ctx, buyerPub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := payer.Settle(ctx, ch); err != nil {
		t.Fatal(err)
	}
	paid := 64 - balance(t, buyer)
	if paid != balance(t, seller) || paid*cfg.StepUnits < used || paid*cfg.StepUnits >= used+cfg.StepUnits {
		t.Fatalf("buyer paid %d sat for %d units (seller holds %d)", paid, used, balance(t, seller))
	}
	t.Logf("12 chunk transfers of 256 KiB: %d units used, %d sat paid, %d deposits", used, paid, payer.Deposited()/4)
}
