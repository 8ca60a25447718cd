package fees_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

const offerKind, matchKind = 30402, 7001

var seq int

func event(t *testing.T, sk string, kind int, tags nostr.Tags) *nostr.Event {
	t.Helper()
	seq++
	ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Tags: tags, Content: fmt.Sprintf("offer %d", seq)}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestFreeRelayHasNoFeesDocument: with every fee zero there is nothing to
// announce, so NIP-11 says neither fees nor payment_required.
func TestFreeRelayHasNoFeesDocument(t *testing.T) {
	m := paytest.StartMint(t)
	w := paytest.WalletAt(t, t.TempDir(), paytest.NewKey(t), nil, m.URL())
	col, err := fees.New(w.Journal(), w, fees.Config{Publication: map[int]uint64{offerKind: 0}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if doc := col.NIP11(); doc != nil {
		t.Fatalf("fees document of a free relay: %+v", doc)
	}
}

func TestCharge(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	dir := t.TempDir()
	relayWallet := paytest.WalletAt(t, dir, paytest.NewKey(t), nil, m.URL())
	col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{
		Publication: map[int]uint64{offerKind: 3},
		Matching:    map[int]uint64{matchKind: 2},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	buyer := paytest.Funded(t, 100, nil, m.URL())
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	token := func(n uint64) string {
		s, err := buyer.Send(ctx, n, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}

	// Free kinds pass.
	if err := col.Charge(ctx, event(t, sk, 1, nil), ""); err != nil {
		t.Fatalf("free kind: %v", err)
	}
	// No payment.
	err = col.Charge(ctx, event(t, sk, offerKind, nil), "")
	if !errors.Is(err, fees.ErrPaymentRequired) || fees.Prefix(err) != "payment-required" {
		t.Fatalf("unpaid: %v", err)
	}
	// Token in the event, overpaying: the excess goes to the prepaid balance.
	tok := token(5)
	ev := event(t, sk, offerKind, nostr.Tags{{fees.TagName, tok}})
	if err := col.Charge(ctx, ev, ""); err != nil {
		t.Fatalf("paid by token: %v", err)
	}
	if b, _ := col.Balance(ctx, pk); b != 2 {
		t.Fatalf("balance after overpay %d, want 2", b)
	}
	// Same event again: not charged twice.
	if err := col.Charge(ctx, ev, ""); err != nil {
		t.Fatalf("resent: %v", err)
	}
	// Replayed token in another event: refused.
	err = col.Charge(ctx, event(t, sk, offerKind, nostr.Tags{{fees.TagName, tok}}), "")
	if !errors.Is(err, fees.ErrBadPayment) || fees.Prefix(err) != "blocked" || !errors.Is(err, cashu.ErrReplayed) {
		t.Fatalf("replayed token: %v", err)
	}
	// Malformed token.
	if err := col.Charge(ctx, event(t, sk, offerKind, nostr.Tags{{fees.TagName, "cashuBgarbage"}}), ""); !errors.Is(err, cashu.ErrMalformedToken) {
		t.Fatalf("malformed: %v", err)
	}
	// Matching fee from the prepaid balance (2 sat left).
	if err := col.Charge(ctx, event(t, sk, matchKind, nil), pk); err != nil {
		t.Fatalf("matching from balance: %v", err)
	}
	// Top up after AUTH, then publish from the balance.
	if b, err := col.TopUp(ctx, pk, token(10)); err != nil || b != 10 {
		t.Fatalf("top up: %d %v", b, err)
	}
	ev2 := event(t, sk, offerKind, nil)
	if err := col.Charge(ctx, ev2, pk); err != nil {
		t.Fatal(err)
	}
	// The relay failed to store ev2: refund to the balance, once.
	if err := col.Refund(ctx, ev2.ID); err != nil {
		t.Fatal(err)
	}
	if err := col.Refund(ctx, ev2.ID); err != nil {
		t.Fatal(err)
	}
	if b, _ := col.Balance(ctx, pk); b != 10 {
		t.Fatalf("balance after refund %d, want 10", b)
	}
	// Earnings: 3 publication + 2 matching today; the relay's wallet holds 15.
	e, err := col.Earnings(ctx, time.Now().Add(-24*time.Hour), time.Now())
	if err != nil || len(e) != 1 || e[0].Publication != 3 || e[0].Matching != 2 || e[0].Events != 2 {
		t.Fatalf("earnings %+v %v", e, err)
	}
	if got, _ := relayWallet.Balance(ctx); got != 15 {
		t.Fatalf("relay wallet %d, want 15", got)
	}
	doc := col.NIP11()
	if len(doc.Publication) != 2 || doc.Publication[0].Amount != 2000 || doc.Publication[1].Kinds[0] != offerKind {
		t.Fatalf("nip11 fees %+v", doc.Publication)
	}
}
