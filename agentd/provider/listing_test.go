package provider_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/nips"
)

// TestOfferListingAndWithdrawal: each offer is also a NIP-99 listing (kind
// 30402, same d, naming the offer), updated with it; a provider that stops
// cleanly withdraws both (NIP-09), so neither is listed after it.
func TestOfferListingAndWithdrawal(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	nd := net.Node(t, "p", 0)
	p, err := provider.New(nd, provider.Config{Bandwidth: &provider.BandwidthConfig{PriceMsat: 2500, MaxConns: 4}, PriceInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(rctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()
	query := func(kind int) []*nostr.Event {
		t.Helper()
		evs, err := nd.Relays.Query(ctx, nostr.Filter{Kinds: []int{kind}, Authors: []string{nd.Key.Pubkey}})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	waitReady(t, p, done)
	listings := query(nips.KindClassified)
	o, ok := p.Offer(nips.Bandwidth)
	if !ok || len(listings) != 1 {
		t.Fatalf("offer published %v, %d listings; want one listing", ok, len(listings))
	}
	l := listings[0]
	if d := l.Tags.GetD(); d != o.ID {
		t.Errorf("listing d %q, offer d %q", d, o.ID)
	}
	if a := l.Tags.GetFirst([]string{"a"}); a == nil || (*a)[1] != o.Address() {
		t.Errorf("listing names %v, want the offer %s", a, o.Address())
	}
	if price := l.Tags.GetFirst([]string{"price"}); price == nil || len(*price) < 3 || (*price)[1] != "2.5" || (*price)[2] != "SAT" {
		t.Errorf("listing price %v, want 2.5 SAT", price)
	}
	if exp := l.Tags.GetFirst([]string{"expiration"}); exp == nil || (*exp)[1] != strconv.FormatInt(int64(o.Expiration), 10) {
		t.Errorf("listing expiration %v, want the offer's %d", exp, o.Expiration)
	}

	cancel()
	<-done
	stopped = true
	if n := len(query(nips.KindOffer)); n != 0 {
		t.Errorf("%d offers listed after a clean stop", n)
	}
	if n := len(query(nips.KindClassified)); n != 0 {
		t.Errorf("%d NIP-99 listings after a clean stop", n)
	}
}
