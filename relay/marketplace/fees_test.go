package marketplace_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
)

func openWallet(t *testing.T, mint, name, secret string) *cashu.Wallet {
	t.Helper()
	j, err := journal.Open(t.Context(), filepath.Join(t.TempDir(), name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	cfg := cashu.DefaultConfig()
	cfg.Mints, cfg.PrivateKey = []string{mint}, secret
	w, err := cashu.Open(t.Context(), j, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestOfferPublicationFee(t *testing.T) {
	mint, err := devmint.Start(t.Context(), t.TempDir(), devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mint.Shutdown(context.Background()) })
	relayWallet := openWallet(t, mint.URL(), "relay", nostr.GeneratePrivateKey())
	col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{Publication: map[int]uint64{nips.KindOffer: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tm := start(t, nil, nil, marketplace.FeeOptions(col, []string{mint.URL()}, true)...)
	rl := connect(t, tm.URL)
	provider := nostr.GeneratePrivateKey()
	payer := openWallet(t, mint.URL(), "payer", provider)
	if err := payer.Fund(t.Context(), 10); err != nil {
		t.Fatal(err)
	}

	withToken := func(evt *nostr.Event, token string) *nostr.Event {
		e := *evt
		e.Tags = append(e.Tags, nostr.Tag{fees.TagName, token})
		return sign(t, e, provider)
	}
	unpaid := offer(t, provider, "paid-offer", 40, "u0yjj")
	err = rl.Publish(t.Context(), *unpaid)
	if err == nil || !strings.Contains(err.Error(), "msg: payment-required:") {
		t.Fatalf("offer without a fee: %v, want payment-required", err)
	}
	sent, err := payer.Send(t.Context(), 2, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	paid := withToken(unpaid, sent.Token)
	if err := rl.Publish(t.Context(), *paid); err != nil {
		t.Fatalf("offer with the fee: %v", err)
	}
	// The same token again, on another offer, buys nothing.
	replay := withToken(offer(t, provider, "second", 40, "u0yjj"), sent.Token)
	if err := rl.Publish(t.Context(), *replay); err == nil {
		t.Fatal("a spent token paid a second fee")
	}
	// A non-market event is free.
	if err := rl.Publish(t.Context(), *sign(t, nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "free"}, provider)); err != nil {
		t.Fatalf("kind 1: %v", err)
	}
	if bal, err := relayWallet.Balance(t.Context()); err != nil || bal != 2 {
		t.Fatalf("relay wallet %d (%v), want 2", bal, err)
	}
	days, err := col.Earnings(t.Context(), time.Now().Add(-24*time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var earned uint64
	for _, d := range days {
		earned += d.Publication + d.Matching
	}
	if earned != 2 {
		t.Fatalf("earnings %v, want 2 sats", days)
	}

	req, _ := http.NewRequestWithContext(t.Context(), "GET", tm.HTTP, nil)
	req.Header.Set("Accept", "application/nostr+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info relay.Info
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info.Fees == nil || len(info.Fees.Publication) == 0 || !info.Limitation.PaymentRequired || !info.TestMoney || len(info.Mints) != 1 || info.TopUpKind != nips.KindTopUp {
		t.Fatalf("NIP-11 fees %+v payment_required %v test_money %v mints %v topup_kind %d", info.Fees, info.Limitation.PaymentRequired, info.TestMoney, info.Mints, info.TopUpKind)
	}
}
