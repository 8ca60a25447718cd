package buyer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// marketRelay runs a relay with its matching engine on loopback.
func marketRelay(t *testing.T, configure func(*relay.Config)) (*relaytest.Server, *marketplace.Marketplace) {
	t.Helper()
	mcfg := marketplace.DefaultConfig()
	mcfg.UnknownRate, mcfg.UnknownBurst, mcfg.TrustedRate, mcfg.TrustedBurst = 1000, 1000, 1000, 1000
	m, err := marketplace.New(mcfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := relaytest.New(t, configure, m.Options()...)
	mctx, cancel := context.WithCancel(context.Background())
	if err := m.Start(mctx, srv.Relay); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Wait() })
	return srv, m
}

func startMint(t *testing.T, dir string) *devmint.Mint {
	t.Helper()
	mint, err := devmint.Start(t.Context(), filepath.Join(dir, "mint"), devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mint.Shutdown(context.Background()) })
	return mint
}

// query returns the events of f stored on the relay at url.
func query(t *testing.T, url string, f nostr.Filter) []*nostr.Event {
	t.Helper()
	rl, err := nostr.RelayConnect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	evs, err := rl.QuerySync(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestOpenBidProviderConfirmed: an open bid is proposed by the relay's
// engine; the provider checks the bid itself and confirms with its match,
// the session's only Match; the buyer opens the session on it and deletes
// the bid.
func TestOpenBidProviderConfirmed(t *testing.T) {
	ctx := t.Context()
	srv, m, net := marketNet(t)

	p := startProvider(t, net, "p", storageCfg(2_000_000))
	b, err := New(ctx, net.Node(t, "buyer", 100), Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.OpenBid(ctx, nips.Storage, 1, 86400, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Provider != p.Node.Key.Pubkey || s.Match.Pubkey != s.Provider || s.Match.PaymentRequest == "" || s.Payer == nil {
		t.Fatalf("session %+v", s.Match)
	}
	if m.ProposalsPublished() != 1 {
		t.Fatalf("the relay's engine made %d proposals, want 1", m.ProposalsPublished())
	}
	if _, err := p.Node.DB.GetSession(ctx, s.ID); err != nil {
		t.Fatalf("provider has no session %s: %v", s.ID, err)
	}
	matches := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindMatch}, Tags: nostr.TagMap{"e": {s.Match.Bid}}})
	if len(matches) != 1 || matches[0].PubKey != p.Node.Key.Pubkey {
		t.Fatalf("%d matches for the bid, want exactly the provider's one", len(matches))
	}
	if bids := query(t, srv.URL, nostr.Filter{IDs: []string{s.Match.Bid}}); len(bids) != 0 {
		t.Fatal("the open bid was not deleted once taken")
	}
}

// TestProviderConfirmsOneProposalPerBid: a second proposal for a bid the
// provider confirmed (as another relay reconciling the same bid makes) is
// refused with a refusal to its relay; the bid keeps one match. A proposal
// over the provider's remaining capacity is refused too.
func TestProviderConfirmsOneProposalPerBid(t *testing.T) {
	ctx := t.Context()
	srv, _, net := marketNet(t)
	p := startProvider(t, net, "p", storageCfg(2_000_000)) // 1 GiB: capacity 1
	o, _ := p.P.Offer(nips.Storage)
	other := nostr.GeneratePrivateKey() // another relay's key
	otherPK, _ := nostr.GetPublicKey(other)
	rl, err := nostr.RelayConnect(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()

	bn := net.Node(t, "buyer", 100)
	bid := nips.Bid{Resource: nips.Storage, MaxPrices: StorageCeiling(10_000_000), Quantity: 1, Duration: 86400,
		Payments: []nips.Payment{{Method: nips.PayCashu, Mint: bn.Wallet.Mints()[0], Unit: "sat"}}, Expiration: nostr.Now() + 600}
	sub, err := rl.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindMatch, nips.KindRefusal}, Tags: nostr.TagMap{"p": {bn.Key.Pubkey, otherPK}}}})
	if err != nil {
		t.Fatal(err)
	}
	<-sub.EndOfStoredEvents
	ev, err := bn.Publish(ctx, bid.ToEvent(nostr.Now()))
	if err != nil {
		t.Fatal(err)
	}
	next := func(kind int) *nostr.Event {
		t.Helper()
		select {
		case e := <-sub.Events:
			if e.Kind != kind {
				t.Fatalf("kind %d, want %d", e.Kind, kind)
			}
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("no kind %d", kind)
		}
		return nil
	}
	first, err := nips.ParseMatch(next(nips.KindMatch))
	if err != nil || first.Bid != ev.ID || first.Pubkey != p.Node.Key.Pubkey {
		t.Fatalf("first match %+v (%v)", first, err)
	}
	// Another relay proposes the same bid on the same offer, as a second
	// fill (another session).
	prop := nips.Proposal{Match: first}
	prop.PaymentRequest, prop.Session = "", nips.SessionID(ev.ID, o.Address(), 1)
	prop.Expiration = nostr.Now() + 60
	pid := proposeAs(t, rl, other, prop)
	r, err := nips.ParseRefusal(next(nips.KindRefusal))
	if err != nil || r.Proposal != pid || r.To != otherPK || r.Pubkey != p.Node.Key.Pubkey {
		t.Fatalf("refusal %+v (%v)", r, err)
	}
	if matches := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindMatch}, Tags: nostr.TagMap{"e": {ev.ID}}}); len(matches) != 1 {
		t.Fatalf("%d matches for the bid, want 1", len(matches))
	}

	// Another buyer's bid proposed to the full offer is refused: capacity.
	bn2 := net.Node(t, "buyer2", 100)
	ev2, err := bn2.Publish(ctx, bid.ToEvent(nostr.Now()))
	if err != nil {
		t.Fatal(err)
	}
	prop2 := prop
	prop2.Bid, prop2.Buyer, prop2.Session = ev2.ID, bn2.Key.Pubkey, nips.SessionID(ev2.ID, o.Address(), 0)
	pid2 := proposeAs(t, rl, other, prop2)
	// The relay's own engine proposed ev2 too and its proposal is refused
	// as well; wait for the refusal of ours.
	for {
		r, err := nips.ParseRefusal(next(nips.KindRefusal))
		if err != nil {
			t.Fatal(err)
		}
		if r.Proposal == pid2 {
			break
		}
	}
	if matches := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindMatch}, Tags: nostr.TagMap{"e": {ev2.ID}}}); len(matches) != 0 {
		t.Fatalf("capacity sold twice: %d matches for the second bid", len(matches))
	}
}

// TestPeeredRelaysSellCapacityOnce: two relays peered with NIP-77 both see
// two buyers' open bids for a provider's whole capacity and each proposes
// them; the provider, the one authority over its capacity, confirms exactly
// one: one buyer gets a session, one match in all, never two.
func TestPeeredRelaysSellCapacityOnce(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	kinds := append(nips.MarketKinds(), nips.KindDeletion)
	a, _ := marketRelay(t, nil)
	bsrv, _ := marketRelay(t, func(c *relay.Config) { c.Peers, c.PeerKinds = []string{a.URL}, kinds })
	net := &agentdtest.Net{Relay: a.URL, Mint: startMint(t, dir), Dir: dir}
	p := startProvider(t, net, "p", storageCfg(2_000_000)) // capacity 1 GiB
	o, _ := p.P.Offer(nips.Storage)
	// The offer reaches relay B (live or by reconciliation).
	brl, err := nostr.RelayConnect(ctx, bsrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer brl.Close()
	osub, err := brl.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindOffer}, Authors: []string{o.Pubkey}, Limit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-osub.Events:
	case <-time.After(10 * time.Second):
		t.Fatal("the offer never reached the peered relay")
	}
	osub.Unsub()
	buyers := []*Buyer{}
	for i, url := range []string{a.URL, bsrv.URL} {
		bn := net.NodeWith(t, []string{"buyer-a", "buyer-b"}[i], 100, func(c *agentd.Config) { c.Relays = []string{url} })
		b, err := New(ctx, bn, Config{MatchTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		buyers = append(buyers, b)
	}
	var wg sync.WaitGroup
	sessions := make([]*Session, 2)
	errs := make([]error, 2)
	for i, b := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sessions[i], errs[i] = b.OpenBid(ctx, nips.Storage, 1, 86400, "")
		}()
	}
	wg.Wait()
	won := 0
	for i := range buyers {
		switch {
		case errs[i] == nil:
			won++
		case !errors.Is(errs[i], ErrNoMatch):
			t.Fatalf("buyer %d: %v", i, errs[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d buyers got a session of a 1 GiB offer, want exactly 1 (%v)", won, errs)
	}
	var all []*nostr.Event
	for _, url := range []string{a.URL, bsrv.URL} {
		all = append(all, query(t, url, nostr.Filter{Kinds: []int{nips.KindMatch}, Authors: []string{o.Pubkey}})...)
	}
	ids := map[string]bool{}
	for _, e := range all {
		ids[e.ID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("%d matches signed by the provider, want 1", len(ids))
	}
}

// TestOpenBidsCarryBandwidth: with Config.OpenBids (agentd serve --bid
// open) a connection rides a bandwidth session the relay proposed and the
// provider confirmed; the next connection reuses it, with no second bid.
func TestOpenBidsCarryBandwidth(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	srv, m := marketRelay(t, nil)
	net0 := &agentdtest.Net{Relay: srv.URL, Mint: startMint(t, dir), Dir: dir}
	echo := startEcho(t)
	p := startProvider(t, net0, "bw", provider.Config{Bandwidth: &provider.BandwidthConfig{PriceMsat: 1000, AllowPrivateTargets: true}})
	bn := net0.Node(t, "buyer", 2000)
	b, err := New(ctx, bn, Config{OpenBids: true, BandwidthMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		c, err := b.DialBandwidth(ctx, echo.Addr().String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		msg := []byte("through an open bid")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("connection %d echoed %q (%v)", i, got, err)
		}
		c.Close()
	}
	if n := m.ProposalsPublished(); n != 1 {
		t.Fatalf("%d proposals, want 1: the second connection reuses the session", n)
	}
	bids := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindBid}, Authors: []string{bn.Key.Pubkey}})
	matches := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindMatch}, Authors: []string{p.Node.Key.Pubkey}})
	if len(bids) != 0 || len(matches) != 1 {
		t.Fatalf("%d bids left and %d matches, want the open bid deleted once taken and one match", len(bids), len(matches))
	}
	if mm, err := nips.ParseMatch(matches[0]); err != nil || mm.Buyer != bn.Key.Pubkey {
		t.Fatalf("match %+v (%v)", mm, err)
	}
}

// TestOpenBidBuyerRanksConfirmedMatches: an open bid for two units is
// proposed in part to the cheapest offer and in part to the next; both
// providers confirm, and the buyer takes the match its own view ranks
// first: the cheaper provider failed it often, so the dearer one wins,
// against the relay's price priority.
func TestOpenBidBuyerRanksConfirmedMatches(t *testing.T) {
	ctx := t.Context()
	srv, m, net := marketNet(t)
	cheap := startProvider(t, net, "cheap", storageCfg(2_000_000)) // 1 GiB each
	dear := startProvider(t, net, "dear", storageCfg(3_000_000))
	bn := net.Node(t, "buyer", 100)
	for range 20 {
		if err := bn.DB.Observe(ctx, cheap.Node.Key.Pubkey, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	b, err := New(ctx, bn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.OpenBid(ctx, nips.Storage, 2, 86400, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.ProposalsPublished() != 2 {
		t.Fatalf("%d proposals, want one to each offer", m.ProposalsPublished())
	}
	if s.Provider != dear.Node.Key.Pubkey {
		t.Fatalf("took %s, want the provider the buyer ranks first (%s)", s.Provider, dear.Node.Key.Pubkey)
	}
	if n := len(query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindMatch}, Tags: nostr.TagMap{"e": {s.Match.Bid}}})); n != 2 {
		t.Fatalf("%d matches, want both providers' confirmations", n)
	}
}

// TestOpenBidDeclinesUnusedMatches: an open bid for two units is confirmed
// by two providers of one unit each; the buyer takes one and declines the
// other's match, and that provider releases its capacity at once (not at
// the end of its payment window, an hour here): a second buyer's open bid
// is proposed to it by the relay and confirmed, while the taken provider,
// unpaid but within its window, still holds its unit. The declined
// session ends.
func TestOpenBidDeclinesUnusedMatches(t *testing.T) {
	ctx := t.Context()
	srv, _, net := marketNet(t)
	hour := storageCfg(2_000_000)
	hour.PaymentWindow = time.Hour
	cheap := startProvider(t, net, "cheap", hour) // 1 GiB each
	hour.Storage = storageCfg(3_000_000).Storage
	dear := startProvider(t, net, "dear", hour)
	bn := net.Node(t, "buyer", 100)
	for range 20 {
		if err := bn.DB.Observe(ctx, cheap.Node.Key.Pubkey, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	b, err := New(ctx, bn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.OpenBid(ctx, nips.Storage, 2, 86400, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Provider != dear.Node.Key.Pubkey {
		t.Fatalf("took %s, want %s", s.Provider, dear.Node.Key.Pubkey)
	}
	declines := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindRefusal}, Authors: []string{bn.Key.Pubkey}})
	if len(declines) != 1 {
		t.Fatalf("%d declines published, want 1 (of the match not taken)", len(declines))
	}
	d, err := nips.ParseRefusal(declines[0])
	if err != nil || !d.IsDecline() || d.To != cheap.Node.Key.Pubkey || d.Bid != s.Match.Bid {
		t.Fatalf("decline %+v (%v)", d, err)
	}

	b2, err := New(ctx, net.Node(t, "buyer2", 100), Config{MatchTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b2.OpenBid(ctx, nips.Storage, 1, 86400, "")
	if err != nil {
		t.Fatalf("the declined capacity was not released: %v", err)
	}
	if s2.Provider != cheap.Node.Key.Pubkey {
		t.Fatalf("second buyer got %s, want the provider whose match was declined", s2.Provider)
	}
	old, err := cheap.Node.DB.GetSession(ctx, d.Session)
	if err != nil || old.State != "failed" {
		t.Fatalf("declined session %+v (%v), want it ended", old, err)
	}
	if kept, err := dear.Node.DB.GetSession(ctx, s.ID); err != nil || kept.State != "open" {
		t.Fatalf("taken session %+v (%v), want it open", kept, err)
	}
}

// TestConfirmationLapsesAfterPaymentWindow: a confirmation its buyer
// neither pays nor declines holds the provider's capacity for the payment
// window only (one minute here, on the provider's clock), not for the
// match's hour: within the window another bid's proposal is refused for
// capacity, past it the same capacity is confirmed to the other bid and
// the unpaid session ends.
func TestConfirmationLapsesAfterPaymentWindow(t *testing.T) {
	ctx := t.Context()
	srv, net, p, skew := skewedProvider(t, func(c *provider.Config) { c.PaymentWindow = time.Minute })
	o, _ := p.P.Offer(nips.Storage)
	other := nostr.GeneratePrivateKey() // another relay's key
	otherPK, _ := nostr.GetPublicKey(other)
	rl, err := nostr.RelayConnect(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	bn, bn2 := net.Node(t, "buyer", 100), net.Node(t, "buyer2", 100)
	bid := nips.Bid{Resource: nips.Storage, MaxPrices: StorageCeiling(10_000_000), Quantity: 1, Duration: 86400,
		Payments: []nips.Payment{{Method: nips.PayCashu, Mint: bn.Wallet.Mints()[0], Unit: "sat"}}, Expiration: nostr.Now() + 600}
	sub, err := rl.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindMatch, nips.KindRefusal}, Tags: nostr.TagMap{"p": {bn.Key.Pubkey, bn2.Key.Pubkey, otherPK}}}})
	if err != nil {
		t.Fatal(err)
	}
	<-sub.EndOfStoredEvents
	next := func(kind int) *nostr.Event {
		t.Helper()
		select {
		case e := <-sub.Events:
			if e.Kind != kind {
				t.Fatalf("kind %d, want %d", e.Kind, kind)
			}
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("no kind %d", kind)
		}
		return nil
	}
	ev, err := bn.Publish(ctx, bid.ToEvent(nostr.Now()))
	if err != nil {
		t.Fatal(err)
	}
	first, err := nips.ParseMatch(next(nips.KindMatch)) // the relay's engine proposed it; never paid
	if err != nil || first.Bid != ev.ID {
		t.Fatalf("first match %+v (%v)", first, err)
	}
	ev2, err := bn2.Publish(ctx, bid.ToEvent(nostr.Now()))
	if err != nil {
		t.Fatal(err)
	}
	// The relay's book holds the offer's unit as sold; another relay
	// proposes the second bid to the provider.
	propose := func(seq uint64) string {
		t.Helper()
		prop := nips.Proposal{Match: first}
		prop.PaymentRequest, prop.Bid, prop.Buyer = "", ev2.ID, bn2.Key.Pubkey
		prop.Session, prop.Expiration = nips.SessionID(ev2.ID, o.Address(), seq), nostr.Now()+60
		return proposeAs(t, rl, other, prop)
	}
	within := propose(0)
	if r, err := nips.ParseRefusal(next(nips.KindRefusal)); err != nil || r.Proposal != within {
		t.Fatalf("within the window: refusal %+v (%v), want the proposal refused for capacity", r, err)
	}
	skew.Store(int64(2 * time.Minute))
	propose(1)
	// The provider's lapse loop may release the first match (a kind-8469
	// release) before or after it confirms the second bid.
	var m nips.Match
	for range 2 {
		select {
		case e := <-sub.Events:
			if e.Kind == nips.KindRefusal {
				if r, err := nips.ParseRefusal(e); err != nil || r.Release != first.EventID {
					t.Fatalf("past the window: refusal %+v (%v), want only the release of the first match", r, err)
				}
				continue
			}
			if m, err = nips.ParseMatch(e); err != nil {
				t.Fatalf("past the window: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("past the window: no match")
		}
		if m.Bid != "" {
			break
		}
	}
	if m.Bid != ev2.ID || m.Session != nips.SessionID(ev2.ID, o.Address(), 1) {
		t.Fatalf("past the window: match %+v, want the second bid confirmed", m)
	}
	if s, err := p.Node.DB.GetSession(ctx, first.Session); err != nil || s.State != "failed" {
		t.Fatalf("unpaid session past its window %+v (%v), want it ended", s, err)
	}
}

// proposeAs publishes prop on rl signed with sk, as a relay's matching
// engine would, and returns the proposal's id.
func proposeAs(t *testing.T, rl *nostr.Relay, sk string, prop nips.Proposal) string {
	t.Helper()
	pev := prop.ToEvent(nostr.Now())
	if err := pev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if err := rl.Publish(t.Context(), pev); err != nil {
		t.Fatal(err)
	}
	return pev.ID
}

// skewedProvider starts a market relay, a mint and a storage provider of
// 1 GiB (capacity 1) whose clock runs skew ahead of the wall clock; edit
// sets its payment window and the like.
func skewedProvider(t *testing.T, edit func(*provider.Config)) (*relaytest.Server, *agentdtest.Net, *runningProvider, *atomic.Int64) {
	t.Helper()
	srv, _, net := marketNet(t)
	skew := new(atomic.Int64)
	cfg := storageCfg(2_000_000)
	edit(&cfg)
	p := startProviderWith(t, net, "p", cfg, func(c *agentd.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	return srv, net, p, skew
}

// marketNet starts a market relay (its matching engine on) and a mint,
// the network of the open-bid tests.
func marketNet(t *testing.T) (*relaytest.Server, *marketplace.Marketplace, *agentdtest.Net) {
	t.Helper()
	dir := t.TempDir()
	srv, m := marketRelay(t, nil)
	return srv, m, &agentdtest.Net{Relay: srv.URL, Mint: startMint(t, dir), Dir: dir}
}
