package buyer

import (
	"bytes"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/nips"
)

// TestOpenBidStoragePut: with open bids (store put --bid open) a put with
// --replicas 2 among three storage providers publishes one open bid for two
// replicas of one share (max_fill = min_fill = the share); the relay's
// engine proposes one replica to each of the two cheapest offers (each
// has room for both replicas: max_fill splits them), both
// providers confirm, and the put pays exactly those two sessions, each at
// its match's quantity; the third provider is never proposed a fill and
// holds no session. The file reads back.
func TestOpenBidStoragePut(t *testing.T) {
	ctx := t.Context()
	srv, m, net := marketNet(t)
	var provs []*runningProvider
	for i, price := range []uint64{2_000_000, 2_500_000, 3_000_000} {
		cfg := storageCfg(price)
		cfg.Storage.Quota = 2 << 30 // each could take both replicas but for max_fill
		provs = append(provs, startProvider(t, net, "prov"+string(rune('a'+i)), cfg))
	}
	bn := net.Node(t, "buyer", 5000)
	b, err := New(ctx, bn, Config{OpenBids: true, Replicas: 2, MinProviders: 2, StorageDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20)
	rand.Read(data)
	e, err := b.Put(ctx, bytes.NewReader(data), "f", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := m.ProposalsPublished(); n != 2 {
		t.Fatalf("%d proposals, want one replica to each of two offers", n)
	}
	want := []string{provs[0].Node.Key.Pubkey, provs[1].Node.Key.Pubkey}
	got := slices.Clone(e.Providers)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("file on %v, want the two cheapest providers %v", e.Providers, want)
	}
	ss, err := bn.DB.Sessions(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	paid, bidID := 0, ""
	for _, s := range ss {
		if s.Role != state.RoleBuyer {
			continue
		}
		if s.Quantity != 1 || s.State != "done" || s.PaidMsat == 0 || !slices.Contains(want, s.Counterparty) {
			t.Fatalf("buyer session %+v, want a paid 1 GiB replica on one of %v", s, want)
		}
		ps, err := provs[slices.IndexFunc(provs, func(p *runningProvider) bool { return p.Node.Key.Pubkey == s.Counterparty })].Node.DB.GetSession(ctx, s.ID)
		if err != nil || ps.PaidMsat != s.PaidMsat || ps.Quantity != 1 {
			t.Fatalf("provider's session %+v (%v), want 1 GiB paid %d", ps, err, s.PaidMsat)
		}
		mev := query(t, srv.URL, nostr.Filter{IDs: []string{s.MatchID}})
		if len(mev) != 1 {
			t.Fatalf("match %s not stored", s.MatchID)
		}
		match, err := nips.ParseMatch(mev[0])
		if err != nil || match.Pubkey != s.Counterparty || match.Quantity != 1 || (bidID != "" && match.Bid != bidID) {
			t.Fatalf("match %+v (%v), want the provider's match of one replica of the one bid", match, err)
		}
		bidID = match.Bid
		paid++
	}
	if paid != 2 {
		t.Fatalf("%d buyer sessions, want 2", paid)
	}
	// The relay proposed one replica of one GiB to each (max_fill).
	props := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindProposal}, Tags: nostr.TagMap{"e": {bidID}}})
	if len(props) != 2 {
		t.Fatalf("%d proposals stored for bid %s, want 2", len(props), bidID)
	}
	for _, ev := range props {
		if p, err := nips.ParseProposal(ev); err != nil || p.Quantity != 1 || p.Provider == provs[2].Node.Key.Pubkey {
			t.Fatalf("proposal %+v (%v), want one replica of 1 GiB to one of the two cheapest", p, err)
		}
	}
	if third, _ := provs[2].Node.DB.Sessions(ctx, 20); len(third) != 0 {
		t.Fatalf("third provider has sessions %+v, want none", third)
	}
	var out bytes.Buffer
	if _, err := b.Get(ctx, e.Root, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("get: %v", err)
	}
}

// TestOpenBidStorageTooFewProviders: a put via open bid for --replicas 2
// with --min-providers 2 and one storage provider gets one confirmation:
// the put fails with ErrTooFewProviders, as a targeted put does, and the
// buyer declines that match, so the provider ends the reservation at once
// (its payment window is an hour) instead of holding its capacity.
func TestOpenBidStorageTooFewProviders(t *testing.T) {
	ctx := t.Context()
	srv, _, net := marketNet(t)
	cfg := storageCfg(2_000_000)
	cfg.PaymentWindow = time.Hour
	p := startProvider(t, net, "only", cfg)
	bn := net.Node(t, "buyer", 5000)
	b, err := New(ctx, bn, Config{OpenBids: true, Replicas: 2, MinProviders: 2, StorageDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	_, err = b.Put(ctx, bytes.NewReader(data), "f", int64(len(data)), nil)
	if !errors.Is(err, ErrTooFewProviders) {
		t.Fatalf("put: %v, want ErrTooFewProviders", err)
	}
	declines := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindRefusal}, Authors: []string{bn.Key.Pubkey}})
	if len(declines) != 1 {
		t.Fatalf("%d declines, want the one confirmation declined", len(declines))
	}
	d, err := nips.ParseRefusal(declines[0])
	if err != nil || !d.IsDecline() || d.To != p.Node.Key.Pubkey {
		t.Fatalf("decline %+v (%v)", d, err)
	}
	// Its one GiB is free again within the hour: another buyer's open bid
	// is proposed to it and confirmed (the provider reads the decline
	// first, from the same relay).
	b2, err := New(ctx, net.Node(t, "buyer2", 100), Config{MatchTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := b2.OpenBid(ctx, nips.Storage, 1, 86400, ""); err != nil || s2.Provider != p.Node.Key.Pubkey {
		t.Fatalf("the declined capacity was not released: %v", err)
	}
	if s, err := p.Node.DB.GetSession(ctx, d.Session); err != nil || s.State != "failed" {
		t.Fatalf("declined session %+v (%v), want it ended", s, err)
	}
	if ss, _ := bn.DB.Sessions(ctx, 20); len(ss) != 0 {
		t.Fatalf("buyer recorded sessions %+v, want none", ss)
	}
}

// TestProviderRefusesFillAboveMaxFill: a provider checks a proposal
// against the buyer's signed bid, not the relay: a proposal (here from a
// relay key with no book) for two replicas of a bid whose fills take one
// (max_fill 1) is refused, though the provider has the room; one replica
// of the same bid is confirmed.
func TestProviderRefusesFillAboveMaxFill(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	cfg := storageCfg(2_000_000)
	cfg.Storage.Quota = 2 << 30 // room for both replicas
	p := startProvider(t, net, "p", cfg)
	o, _ := p.P.Offer(nips.Storage)
	bn := net.Node(t, "buyer", 100)
	other := nostr.GeneratePrivateKey() // a relay's key
	rl, err := nostr.RelayConnect(ctx, net.Relay)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	sub, err := rl.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindMatch, nips.KindRefusal}, Tags: nostr.TagMap{"p": {bn.Key.Pubkey}}}, {Kinds: []int{nips.KindRefusal}, Authors: []string{p.Node.Key.Pubkey}}})
	if err != nil {
		t.Fatal(err)
	}
	<-sub.EndOfStoredEvents
	bid := nips.Bid{Resource: nips.Storage, MaxPrices: StorageCeiling(10_000_000), Quantity: 2, MinFill: 1, MaxFill: 1, Duration: 86400,
		Payments: []nips.Payment{{Method: nips.PayCashu, Mint: bn.Wallet.Mints()[0], Unit: "sat"}}, Expiration: nostr.Now() + 600}
	ev, err := bn.Publish(ctx, bid.ToEvent(nostr.Now()))
	if err != nil {
		t.Fatal(err)
	}
	propose := func(q, seq uint64) string {
		t.Helper()
		amount, err := nips.Cost(nips.Storage, o.Prices, q, bid.Duration)
		if err != nil {
			t.Fatal(err)
		}
		prop := nips.Proposal{Match: nips.Match{Bid: ev.ID, Offer: o.Address(), Buyer: bn.Key.Pubkey, Provider: p.Node.Key.Pubkey,
			Resource: nips.Storage, Prices: o.Prices, Quantity: q, Duration: bid.Duration, Amount: amount,
			Session: nips.SessionID(ev.ID, o.Address(), seq), Payment: bid.Payments[0], Expiration: nostr.Now() + 60}}
		return proposeAs(t, rl, other, prop)
	}
	next := func() *nostr.Event {
		t.Helper()
		select {
		case e := <-sub.Events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no answer to the proposal")
		}
		return nil
	}
	both := propose(2, 0)
	e := next()
	if r, err := nips.ParseRefusal(e); e.Kind != nips.KindRefusal || err != nil || r.Proposal != both {
		t.Fatalf("two replicas in one fill: kind %d %v, want the proposal refused", e.Kind, err)
	}
	propose(1, 2)
	e = next()
	if m, err := nips.ParseMatch(e); e.Kind != nips.KindMatch || err != nil || m.Quantity != 1 || m.Bid != ev.ID {
		t.Fatalf("one replica: kind %d %+v (%v), want it confirmed", e.Kind, m, err)
	}
}

// TestOpenBidStorageCannotAfford: a put via open bid checks the cost of
// the matches it keeps, at the prices the providers signed, against the
// wallet before anything is sent: with too little in the wallet it fails
// with ErrCannotAfford, records no session and declines both
// confirmations.
func TestOpenBidStorageCannotAfford(t *testing.T) {
	ctx := t.Context()
	srv, _, net := marketNet(t)
	a := startProvider(t, net, "a", storageCfg(2_000_000))
	c := startProvider(t, net, "c", storageCfg(2_500_000))
	bn := net.Node(t, "buyer", 0)
	b, err := New(ctx, bn, Config{OpenBids: true, Replicas: 2, MinProviders: 2, StorageDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	if _, err := b.Put(ctx, bytes.NewReader(data), "f", int64(len(data)), nil); !errors.Is(err, ErrCannotAfford) {
		t.Fatalf("put: %v, want ErrCannotAfford", err)
	}
	declines := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindRefusal}, Authors: []string{bn.Key.Pubkey}})
	to := map[string]bool{}
	for _, ev := range declines {
		if d, err := nips.ParseRefusal(ev); err == nil && d.IsDecline() {
			to[d.To] = true
		}
	}
	if len(declines) != 2 || !to[a.Node.Key.Pubkey] || !to[c.Node.Key.Pubkey] {
		t.Fatalf("declines to %v (%d events), want both confirmations declined", to, len(declines))
	}
	if ss, _ := bn.DB.Sessions(ctx, 20); len(ss) != 0 {
		t.Fatalf("buyer recorded sessions %+v, want none", ss)
	}
}
