package nwc_test

import (
	"context"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip44"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/nwc"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// runService runs svc until the returned stop is called.
func runService(t *testing.T, svc *nwc.Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, ready) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("service: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("service not ready")
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func countOps(t *testing.T, w *cashu.Wallet, kind string) int {
	t.Helper()
	var n int
	if err := w.Journal().DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM ops WHERE kind = ?`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestServiceRestart: connections and invoices survive a restart of the
// service (new process, same journal and key).
func TestServiceRestart(t *testing.T) {
	relay := relaytest.Start(t)
	m := paytest.StartMint(t)
	ctx := t.Context()
	payer := paytest.Funded(t, 100, nil, m.URL())
	_, pc, _ := startService(t, relay, payer)

	dir, key, svcKey := t.TempDir(), paytest.NewKey(t), nostr.GeneratePrivateKey()
	open := func() (*cashu.Wallet, *nwc.Service) {
		w := paytest.WalletAt(t, dir, key, nil, m.URL())
		svc, err := nwc.NewService(w, nwc.ServiceConfig{SecretKey: svcKey, Relay: relay, Network: "signet"})
		if err != nil {
			t.Fatal(err)
		}
		return w, svc
	}
	w1, svc1 := open()
	stop1 := runService(t, svc1)
	uri, err := svc1.NewConnection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := nwc.Connect(ctx, uri, nwc.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c1.MakeInvoice(ctx, 7_000, "storage", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The dev mint's fake Lightning marks every invoice paid at once.
	second, err := c1.MakeInvoice(ctx, 3_000, "later", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.PayInvoice(ctx, inv.Invoice, "signet", bolt11.Expect{AmountMsat: 7_000}); err != nil {
		t.Fatal(err)
	}
	c1.Close()
	mints := countOps(t, w1, cashu.KindMint)
	stop1()
	if err := w1.Journal().Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: a new service on the same journal.
	w2, svc2 := open()
	runService(t, svc2)
	if conns, err := svc2.Connections(ctx); err != nil || len(conns) != 1 {
		t.Fatalf("connections after restart: %v %v", conns, err)
	}
	c2, err := nwc.Connect(ctx, uri, nwc.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got, err := c2.LookupInvoice(ctx, inv.PaymentHash)
	if err != nil || got.State != "settled" || got.Description != "storage" || got.Amount != 7_000 {
		t.Fatalf("lookup after restart: %+v %v", got, err)
	}
	if got, err := c2.LookupInvoice(ctx, second.PaymentHash); err != nil || got.State != "settled" || got.Description != "later" {
		t.Fatalf("second invoice after restart: %+v %v", got, err)
	}
	if b, err := c2.GetBalance(ctx); err != nil || b != 10_000 {
		t.Fatalf("balance after restart: %d %v", b, err)
	}
	if n := countOps(t, w2, cashu.KindMint); n != mints {
		t.Fatalf("make_invoice ran again after the restart: %d mint quotes, had %d", n, mints)
	}
	// Revoked: the old URI stops working, across restarts too.
	if err := svc2.Revoke(ctx, mustPub(t, uri.Secret)); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.GetBalance(ctx); err == nil {
		t.Fatal("revoked client still served")
	}
}

func mustPub(t *testing.T, sk string) string {
	t.Helper()
	pk, err := nostr.GetPublicKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// TestServiceRequestOnce: a request event delivered twice (a second relay, a
// reconnection) is executed once; the kept response is published again.
func TestServiceRequestOnce(t *testing.T) {
	relay := relaytest.Start(t)
	m := paytest.StartMint(t)
	ctx := t.Context()
	w := paytest.Wallet(t, nil, m.URL())
	svcKey := nostr.GeneratePrivateKey()
	svc, err := nwc.NewService(w, nwc.ServiceConfig{SecretKey: svcKey, Relay: relay, Network: "signet"})
	if err != nil {
		t.Fatal(err)
	}
	runService(t, svc)
	uri, err := svc.NewConnection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := nip44.GenerateConversationKey(svc.Pubkey(), uri.Secret)
	if err != nil {
		t.Fatal(err)
	}
	content, err := nip44.Encrypt(`{"method":"make_invoice","params":{"amount":5000,"description":"once"}}`, ck)
	if err != nil {
		t.Fatal(err)
	}
	req := nostr.Event{Kind: nwc.KindRequest, CreatedAt: nostr.Now(), Content: content,
		Tags: nostr.Tags{{"p", svc.Pubkey()}, {"encryption", nwc.Encryption}}}
	if err := req.Sign(uri.Secret); err != nil {
		t.Fatal(err)
	}
	r, err := nostr.RelayConnect(ctx, relay)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sub, err := r.Subscribe(ctx, nostr.Filters{{Kinds: []int{nwc.KindResponse}, Tags: nostr.TagMap{"e": []string{req.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	<-sub.EndOfStoredEvents
	var responses []string
	for i := range 2 {
		if err := r.Publish(ctx, req); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		select {
		case ev := <-sub.Events:
			plain, err := nip44.Decrypt(ev.Content, ck)
			if err != nil {
				t.Fatal(err)
			}
			responses = append(responses, plain)
		case <-time.After(10 * time.Second):
			t.Fatalf("no response to delivery %d", i)
		}
	}
	if responses[0] != responses[1] {
		t.Fatalf("two different responses:\n%s\n%s", responses[0], responses[1])
	}
	if n := countOps(t, w, cashu.KindMint); n != 1 {
		t.Fatalf("make_invoice ran %d times", n)
	}
}
