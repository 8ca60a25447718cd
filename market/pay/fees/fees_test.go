package fees_test

import (
	"errors"
	"fmt"
	"strings"
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
func TestFreeRelayHasNoFeesDocument(t *testing.T) { forEachBackend(t, testFreeRelayHasNoFeesDocument) }

func testFreeRelayHasNoFeesDocument(t *testing.T, b paytest.Backend) {
	m := paytest.StartMint(t)
	w := b.WalletAt(t, t.TempDir(), paytest.NewKey(t), nil, m.URL())
	col, err := fees.New(w.Journal(), w, fees.Config{Publication: map[int]uint64{offerKind: 0}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if doc := col.NIP11(); doc != nil {
		t.Fatalf("fees document of a free relay: %+v", doc)
	}
}

func TestCharge(t *testing.T) { forEachBackend(t, testCharge) }

func testCharge(t *testing.T, b paytest.Backend) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	dir := t.TempDir()
	relayWallet := b.WalletAt(t, dir, paytest.NewKey(t), nil, m.URL())
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
	if res, err := col.TopUp(ctx, pk, token(10), ""); err != nil || res.Credited != 10 || res.Balance != 10 {
		t.Fatalf("top up: %+v %v", res, err)
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

// TestTopUp: a top-up credits the balance once per request; the same
// request again reports the first outcome; refused tokens credit nothing;
// a charge over the balance says the fee and the balance.
func TestTopUp(t *testing.T) { forEachBackend(t, testTopUp) }

func testTopUp(t *testing.T, b paytest.Backend) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	relayWallet := b.WalletAt(t, t.TempDir(), paytest.NewKey(t), nil, m.URL())
	col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{Publication: map[int]uint64{offerKind: 3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	buyer := paytest.Funded(t, 50, nil, m.URL())
	token := func(n uint64) string {
		s, err := buyer.Send(ctx, n, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	other, _ := nostr.GetPublicKey(nostr.GeneratePrivateKey())
	tok := token(7)
	spent := token(2)
	if _, err := paytest.Wallet(t, nil, m.URL()).Receive(ctx, spent, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		pubkey, token string
		ref           string
		want          fees.TopUpResult
		is            error // nil: credited
		alsoIs        error
	}{
		{"first", pk, tok, "r1", fees.TopUpResult{Credited: 7, Balance: 7}, nil, nil},
		{"same request again", pk, tok, "r1", fees.TopUpResult{Credited: 7, Balance: 7}, nil, nil},
		{"same token, another request", pk, tok, "r2", fees.TopUpResult{}, fees.ErrBadPayment, cashu.ErrReplayed},
		{"same request, another key", other, tok, "r1", fees.TopUpResult{}, fees.ErrBadPayment, cashu.ErrReplayed},
		{"spent at the mint", pk, spent, "r3", fees.TopUpResult{}, fees.ErrBadPayment, cashu.ErrTokenSpent},
		{"malformed", pk, "cashuBgarbage", "r4", fees.TopUpResult{}, fees.ErrBadPayment, cashu.ErrMalformedToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := col.TopUp(ctx, tc.pubkey, tc.token, tc.ref)
			if tc.is == nil {
				if err != nil || res != tc.want {
					t.Fatalf("top up: %+v %v, want %+v", res, err, tc.want)
				}
			} else {
				if !errors.Is(err, tc.is) || !errors.Is(err, tc.alsoIs) || fees.Prefix(err) != "blocked" || !strings.Contains(err.Error(), "nothing credited") {
					t.Fatalf("top up: %v, want %v and %v, nothing credited", err, tc.is, tc.alsoIs)
				}
				if strings.Contains(err.Error(), tc.token) {
					t.Fatal("the error quotes the token")
				}
			}
			if b, _ := col.Balance(ctx, pk); b != 7 {
				t.Fatalf("balance %d, want 7", b)
			}
			if b, _ := col.Balance(ctx, other); b != 0 {
				t.Fatalf("balance of the other key %d, want 0", b)
			}
			if w, _ := relayWallet.Balance(ctx); w != 7 {
				t.Fatalf("relay wallet %d, want 7", w)
			}
		})
	}
	// The balance pays two fees of 3; the third is refused with both numbers.
	for range 2 {
		if err := col.Charge(ctx, event(t, sk, offerKind, nil), pk); err != nil {
			t.Fatal(err)
		}
	}
	err = col.Charge(ctx, event(t, sk, offerKind, nil), pk)
	if !errors.Is(err, fees.ErrPaymentRequired) || !strings.Contains(err.Error(), "fee is 3 sat") || !strings.Contains(err.Error(), "is 1 sat") {
		t.Fatalf("over the balance: %v", err)
	}
	if n, err := col.Resume(ctx); n != 0 || err != nil {
		t.Fatalf("resume settled %d (%v), want nothing left", n, err)
	}
}

// TestOfferFeeOncePerPeriod: with a publication period, an offer address
// (kind:pubkey:d) pays once per period: republishing it at another price
// within the period is free (a token it carries goes to the prepaid
// balance), a new address pays, and the address pays again once the
// period is over. NIP-11 announces the period.
func TestOfferFeeOncePerPeriod(t *testing.T) { forEachBackend(t, testOfferFeeOncePerPeriod) }

func testOfferFeeOncePerPeriod(t *testing.T, b paytest.Backend) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	now := time.Unix(1_800_000_000, 0)
	relayWallet := b.WalletAt(t, t.TempDir(), paytest.NewKey(t), nil, m.URL())
	col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{
		Publication:       map[int]uint64{offerKind: 3},
		PublicationPeriod: 24 * time.Hour,
		Now:               func() time.Time { return now },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if doc := col.NIP11(); doc == nil || len(doc.Publication) != 1 || doc.Publication[0].Period != 86400 {
		t.Fatalf("NIP-11 fees %+v, want one publication fee with period 86400", doc)
	}
	buyer := paytest.Funded(t, 100, nil, m.URL())
	token := func(n uint64) string {
		t.Helper()
		s, err := buyer.Send(ctx, n, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	offer := func(d, price string, extra ...nostr.Tag) *nostr.Event {
		return event(t, sk, offerKind, append(nostr.Tags{{"d", d}, {"price", price}}, extra...))
	}
	if err := col.Charge(ctx, offer("a", "10", nostr.Tag{fees.TagName, token(20)}), ""); err != nil {
		t.Fatalf("first publication: %v", err)
	}
	balance := func() uint64 {
		t.Helper()
		b, err := col.Balance(ctx, pk)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	steps := []struct {
		name    string
		advance time.Duration
		ev      func() *nostr.Event
		want    uint64 // prepaid balance after
	}{
		{"paid with the first publication", 0, nil, 17},
		{"new price within the period", time.Hour, func() *nostr.Event { return offer("a", "11") }, 17},
		{"many price steps within the period", time.Minute, func() *nostr.Event { return offer("a", "12") }, 17},
		{"a token on a covered republish is credited", time.Minute, func() *nostr.Event { return offer("a", "13", nostr.Tag{fees.TagName, token(4)}) }, 21},
		{"another address pays", 0, func() *nostr.Event { return offer("b", "5") }, 18},
		{"the period is over", 24 * time.Hour, func() *nostr.Event { return offer("a", "14") }, 15},
		{"covered again", time.Hour, func() *nostr.Event { return offer("a", "15") }, 15},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		if st.ev != nil {
			if err := col.Charge(ctx, st.ev(), ""); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if got := balance(); got != st.want {
			t.Fatalf("%s: prepaid balance %d, want %d", st.name, got, st.want)
		}
	}
}
