package buyer

import (
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// eventually polls cond until it holds, failing the test with what after
// a bounded wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestOpenBidDeclinesLateMatch: a provider's confirmation of an open bid
// that reaches the buyer after OpenBid has taken another match (here: a
// relay the bid's deletion never reached proposed it to a second provider)
// is declined as well, so that provider ends the confirmation at once
// instead of holding its capacity for its payment window (an hour here).
func TestOpenBidDeclinesLateMatch(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	a, _ := marketRelay(t, nil)
	other := relaytest.New(t, nil) // another relay, without the bid's deletion
	net := &agentdtest.Net{Relay: a.URL, Mint: startMint(t, dir), Dir: dir}
	hour := storageCfg(2_000_000)
	hour.PaymentWindow = time.Hour
	first := startProvider(t, net, "first", hour)
	hour.Storage = storageCfg(3_000_000).Storage // dearer: relay a proposes the 1 GiB bid to first only
	late := startProviderWith(t, net, "late", hour, func(c *agentd.Config) { c.Relays = []string{a.URL, other.URL} })
	bn := net.Node(t, "buyer", 100)

	rla, err := nostr.RelayConnect(ctx, a.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rla.Close()
	bids, err := rla.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindBid}, Authors: []string{bn.Key.Pubkey}}})
	if err != nil {
		t.Fatal(err)
	}
	<-bids.EndOfStoredEvents
	b, err := New(ctx, bn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.OpenBid(ctx, nips.Storage, 1, 86400, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Provider != first.Node.Key.Pubkey {
		t.Fatalf("took %s, want the only provider proposed (%s)", s.Provider, first.Node.Key.Pubkey)
	}
	var bidEv *nostr.Event
	select {
	case bidEv = <-bids.Events:
	case <-time.After(10 * time.Second):
		t.Fatal("the open bid was never seen")
	}
	// The other relay holds the bid (its deletion never reached it) and
	// proposes it to the second provider, after OpenBid has returned.
	rlo, err := nostr.RelayConnect(ctx, other.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rlo.Close()
	if err := rlo.Publish(ctx, *bidEv); err != nil {
		t.Fatal(err)
	}
	o, _ := late.P.Offer(nips.Storage)
	prop := nips.Proposal{Match: s.Match}
	prop.PaymentRequest, prop.Offer, prop.Provider, prop.Prices = "", o.Address(), o.Pubkey, o.Prices
	prop.Amount, err = nips.Cost(prop.Resource, prop.Prices, prop.Quantity, prop.Duration)
	if err != nil {
		t.Fatal(err)
	}
	prop.Session, prop.Expiration = nips.SessionID(bidEv.ID, o.Address(), 1), nostr.Now()+60
	proposeAs(t, rlo, nostr.GeneratePrivateKey(), prop)

	eventually(t, "the late provider's confirmation was never declined: it holds its capacity", func() bool {
		ls, err := late.Node.DB.GetSession(ctx, prop.Session)
		return err == nil && ls.MatchID != "" && ls.State == "failed"
	})
	ls, _ := late.Node.DB.GetSession(ctx, prop.Session)
	var declined bool
	for _, ev := range query(t, a.URL, nostr.Filter{Kinds: []int{nips.KindRefusal}, Authors: []string{bn.Key.Pubkey}}) {
		if d, err := nips.ParseRefusal(ev); err == nil && d.IsDecline() && d.Match == ls.MatchID && d.To == o.Pubkey {
			declined = true
		}
	}
	if !declined {
		t.Fatal("no decline of the late match published")
	}
	if kept, err := first.Node.DB.GetSession(ctx, s.ID); err != nil || kept.State != "open" {
		t.Fatalf("taken session %+v (%v), want it open", kept, err)
	}
}

// TestLapsedConfirmationReleased: a confirmation its buyer neither pays
// nor declines lapses at the end of the provider's payment window (on the
// provider's clock), without waiting for the capacity to be asked for: the
// provider publishes a release of its match, the relay's book puts the
// capacity back on sale at once, and a second buyer's open bid resting in
// the book is proposed to it and confirmed.
func TestLapsedConfirmationReleased(t *testing.T) {
	ctx := t.Context()
	srv, net, p, skew := skewedProvider(t, func(c *provider.Config) {
		c.PaymentWindow, c.LapseInterval = time.Minute, 20*time.Millisecond
	})
	rl, err := nostr.RelayConnect(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	bn, bn2 := net.Node(t, "buyer", 100), net.Node(t, "buyer2", 100)
	bid := nips.Bid{Resource: nips.Storage, MaxPrices: StorageCeiling(10_000_000), Quantity: 1, Duration: 86400,
		Payments: []nips.Payment{{Method: nips.PayCashu, Mint: bn.Wallet.Mints()[0], Unit: "sat"}}, Expiration: nostr.Now() + 600}
	sub, err := rl.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindMatch, nips.KindRefusal}, Tags: nostr.TagMap{"p": {bn.Key.Pubkey, bn2.Key.Pubkey}}}})
	if err != nil {
		t.Fatal(err)
	}
	<-sub.EndOfStoredEvents
	ev, err := bn.Publish(ctx, bid.ToEvent(nostr.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var first nips.Match
	select {
	case e := <-sub.Events:
		if first, err = nips.ParseMatch(e); err != nil || first.Bid != ev.ID {
			t.Fatalf("first match %+v (%v)", first, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first bid was not confirmed")
	}
	// The offer's one GiB is sold in the relay's book: the second bid rests.
	ev2, err := bn2.Publish(ctx, bid.ToEvent(nostr.Now()))
	if err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(2 * time.Minute)) // the first match's payment window is over
	var released, second bool
	for !released || !second {
		select {
		case e := <-sub.Events:
			switch e.Kind {
			case nips.KindRefusal:
				r, err := nips.ParseRefusal(e)
				if err != nil || !r.IsRelease() || r.Release != first.EventID || r.Bid != ev.ID || r.To != bn.Key.Pubkey || r.Pubkey != p.Node.Key.Pubkey {
					t.Fatalf("refusal %+v (%v), want the provider's release of the first match", r, err)
				}
				released = true
			case nips.KindMatch:
				m, err := nips.ParseMatch(e)
				if err != nil || m.Bid != ev2.ID {
					t.Fatalf("match %+v (%v), want the second bid's", m, err)
				}
				second = true
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("released %v, second bid confirmed %v: the relay's book never learnt of the lapse", released, second)
		}
	}
	if s, err := p.Node.DB.GetSession(ctx, first.Session); err != nil || s.State != "failed" {
		t.Fatalf("unpaid session past its window %+v (%v), want it ended", s, err)
	}
}

// TestOpenStorageBidStopsWhenAnswered: a put's open bid for three
// replicas with two storage providers (--min-providers 2) stops waiting
// once both proposals are confirmed, not at MatchTimeout (ten minutes
// here), and keeps the two matches.
func TestOpenStorageBidStopsWhenAnswered(t *testing.T) {
	ctx := t.Context()
	_, _, net := marketNet(t)
	provs := map[string]bool{}
	for i, price := range []uint64{2_000_000, 2_500_000} {
		p := startProvider(t, net, "prov"+string(rune('a'+i)), storageCfg(price))
		provs[p.Node.Key.Pubkey] = true
	}
	b, err := New(ctx, net.Node(t, "buyer", 5000), Config{OpenBids: true, Replicas: 3, MinProviders: 2,
		StorageDuration: 24 * time.Hour, MatchTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		ss  []*Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		ss, err := b.openStorageBid(ctx, 3<<20)
		done <- result{ss, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the open bid still waits for a third replica although both providers answered")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	got := map[string]bool{}
	for _, s := range r.ss {
		got[s.Provider] = true
	}
	if len(r.ss) != 2 || len(got) != 2 || !provs[r.ss[0].Provider] || !provs[r.ss[1].Provider] {
		t.Fatalf("%d sessions on %v, want one on each provider", len(r.ss), got)
	}
}
