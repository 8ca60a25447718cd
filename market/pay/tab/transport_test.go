package tab_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/tab"
	"github.com/sovmesh/sovmesh/transport"
)

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
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
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newHost(t *testing.T, secret string) *transport.Host {
	t.Helper()
	h, err := transport.New(t.Context(),
		transport.WithListenAddrs(transport.LoopbackListenAddrs...),
		transport.WithTimeouts(5*time.Second, 10*time.Second, 10*time.Second),
		transport.WithNostrSecret(secret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// TestTabOverBandwidth carries 4 MiB through a real libp2p bandwidth session
// (8 MiB of units: both ways) paid from a tab at 1 sat per MiB, then closes
// the tab and checks every sat.
func TestTabOverBandwidth(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey, sellerKey := paytest.NewKey(t), paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 50); err != nil {
		t.Fatal(err)
	}
	seller := paytest.WalletAt(t, t.TempDir(), sellerKey, nil, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = mib, 1
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	prov := newHost(t, sellerKey)
	prov.ServeBandwidth(transport.BandwidthConfig{Gate: k, AllowPrivateTargets: true})
	bh := newHost(t, buyerKey)
	pid, err := bh.Connect(ctx, prov.NostrPubkey(), prov.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 5, Limit: 20}
	conn, err := bh.DialBandwidth(ctx, pid, echoServer(t), payer)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4*mib)
	_, _ = rand.Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Write(data)
		if err == nil {
			err = conn.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(conn)
	if err != nil {
		tb, terr := k.Tab(ctx, buyerPub)
		t.Fatalf("read: %v (tab %+v %v; payer deposited %d; buyer usage %+v)", err, tb, terr, payer.Deposited(), conn.Usage())
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo: %d bytes", len(got))
	}
	_ = conn.Close()
	// The provider's Close runs when its side of the stream ends.
	var tb tab.Tab
	for i := 0; i < 100; i++ {
		if tb, err = k.Tab(ctx, buyerPub); err == nil && tb.Debited*mib == 8*mib+tb.Carry {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Steps granted ahead and not used are carried: the cost is 8 sat.
	if err != nil || tb.Deposited != 10 || tb.Debited*mib != 8*mib+tb.Carry || tb.Debited > tb.Deposited {
		t.Fatalf("tab %+v %v: want 10 deposited, 8 MiB of steps used", tb, err)
	}
	ch, err := k.CloseTab(ctx, buyerPub)
	if err != nil || ch.Amount != 2 {
		t.Fatalf("close: %+v %v", ch, err)
	}
	if back, err := payer.Settle(ctx, ch); err != nil || back != 2 {
		t.Fatalf("settle: %d %v", back, err)
	}
	if b, s := balance(t, buyer), balance(t, seller); b != 42 || s != 8 {
		t.Fatalf("buyer %d seller %d, want 42 and 8", b, s)
	}
}
