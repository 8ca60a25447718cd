package marketplace_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

type testMarket struct {
	*relaytest.Server
	m *marketplace.Marketplace
}

// start runs a relay with the marketplace on loopback.
func start(t *testing.T, mcfg func(*marketplace.Config), rcfg func(*relay.Config), opts ...relay.Option) testMarket {
	t.Helper()
	cfg := marketplace.DefaultConfig()
	cfg.UnknownRate, cfg.UnknownBurst, cfg.TrustedRate, cfg.TrustedBurst = 1000, 1000, 1000, 1000
	if mcfg != nil {
		mcfg(&cfg)
	}
	m, err := marketplace.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := relaytest.New(t, rcfg, append(m.Options(), opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Start(ctx, srv.Relay); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		m.Wait()
	})
	return testMarket{srv, m}
}

func connect(t *testing.T, url string) *nostr.Relay {
	t.Helper()
	rl, err := nostr.RelayConnect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	return rl
}

func sign(t *testing.T, evt nostr.Event, sk string) *nostr.Event {
	t.Helper()
	if err := evt.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return &evt
}

func TestMalformedMarketEventsRejectedWithReason(t *testing.T) {
	// The fixtures are dated from nipstest.Time to a day later; the relay's
	// clock is set there so only the protocol check can refuse them.
	clock := func() time.Time { return nipstest.Time.Time().Add(time.Minute) }
	tm := start(t, nil, func(c *relay.Config) { c.MaxFuture, c.Clock = 48*time.Hour, clock })
	rl := connect(t, tm.URL)
	cases := nipstest.Malformed()
	if len(cases) < 6 {
		t.Fatalf("only %d malformed cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			err := rl.Publish(t.Context(), tc.Event)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "msg: invalid: ") || !strings.Contains(err.Error(), tc.Want) {
				t.Fatalf("reason %q, want invalid: ... %q", err, tc.Want)
			}
		})
	}
	for name, evt := range nipstest.ExampleEvents() {
		t.Run("valid "+name, func(t *testing.T) {
			if err := rl.Publish(t.Context(), evt); err != nil {
				t.Fatalf("valid example refused: %v", err)
			}
		})
	}
}

// offer is a bandwidth offer by sk, valid from now.
func offer(t *testing.T, sk string, id string, msat uint64, geohash string) *nostr.Event {
	t.Helper()
	o := nipstest.BandwidthOffer()
	o.ID, o.Prices, o.Geohash = id, nips.Prices{{Unit: nips.UnitMiB, Msat: msat}}, geohash
	o.Expiration = nostr.Now() + 3600
	return sign(t, o.ToEvent(nostr.Now()), sk)
}

func openBid(t *testing.T, sk string, quantity uint64, ceiling uint64, regions ...string) *nostr.Event {
	t.Helper()
	b := nipstest.OpenBid()
	b.Quantity, b.MinFill, b.MinTrust, b.Regions = quantity, 1, 0, regions
	b.MaxPrices = nips.Prices{{Unit: nips.UnitMiB, Msat: ceiling}}
	b.Expiration = nostr.Now() + 600
	return sign(t, b.ToEvent(nostr.Now()), sk)
}

func TestOpenBidGetsRelayProposal(t *testing.T) {
	tm := start(t, nil, nil)
	provider, buyer := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	buyerPK, _ := nostr.GetPublicKey(buyer)
	providerPK, _ := nostr.GetPublicKey(provider)
	prl, brl := connect(t, tm.URL), connect(t, tm.URL)

	cheap := offer(t, provider, "cheap", 40, "dr5rs")
	dear := offer(t, nostr.GeneratePrivateKey(), "dear", 70, "dr5rs")
	for _, o := range []*nostr.Event{cheap, dear} {
		if err := prl.Publish(t.Context(), *o); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := brl.Subscribe(t.Context(), nostr.Filters{{Kinds: []int{nips.KindMatch, nips.KindProposal}, Tags: nostr.TagMap{"p": {buyerPK}}}})
	if err != nil {
		t.Fatal(err)
	}
	<-sub.EndOfStoredEvents
	bid := openBid(t, buyer, 1024, 80, "dr5")
	if err := brl.Publish(t.Context(), *bid); err != nil {
		t.Fatal(err)
	}
	evt := next(t, sub)
	if evt.Kind != nips.KindProposal || evt.PubKey != tm.PublicKey() {
		t.Fatalf("kind %d signed by %s, want a proposal by the relay %s", evt.Kind, evt.PubKey, tm.PublicKey())
	}
	p, err := nips.ParseProposal(evt)
	if err != nil {
		t.Fatal(err)
	}
	if p.Provider != providerPK || p.Buyer != buyerPK || p.Bid != bid.ID || p.Quantity != 1024 {
		t.Fatalf("proposal %+v: want the cheap offer, the whole quantity", p)
	}
	if p.Prices[0].Msat != 40 || p.Amount != 40*1024 {
		t.Fatalf("price %d amount %d, want the offer's price 40 and 40960", p.Prices[0].Msat, p.Amount)
	}
}

// next returns the next event of sub, failing after 10 s.
func next(t *testing.T, sub *nostr.Subscription) *nostr.Event {
	t.Helper()
	select {
	case evt := <-sub.Events:
		return evt
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return nil
}

func TestBidOutsideRegionOrCeilingRests(t *testing.T) {
	tm := start(t, nil, nil)
	rl := connect(t, tm.URL)
	if err := rl.Publish(t.Context(), *offer(t, nostr.GeneratePrivateKey(), "o", 60, "u0yjj")); err != nil {
		t.Fatal(err)
	}
	for _, bid := range []*nostr.Event{
		openBid(t, nostr.GeneratePrivateKey(), 10, 80, "dr5"), // wrong region
		openBid(t, nostr.GeneratePrivateKey(), 10, 50, "u0"),  // under the price
	} {
		if err := rl.Publish(t.Context(), *bid); err != nil {
			t.Fatal(err)
		}
	}
	// Both bids rest in the book, no match is made.
	waitFor(t, "two resting bids", func() bool { return len(book(t, tm, "resource=bandwidth").Bids) == 2 })
	if n := tm.m.ProposalsPublished(); n != 0 {
		t.Fatalf("%d proposals published", n)
	}
}

func book(t *testing.T, tm testMarket, query string) market.BookView {
	t.Helper()
	resp, err := http.Get(tm.HTTP + "/api/book?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/book?%s: %d %s", query, resp.StatusCode, b)
	}
	var v market.BookView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBookEndpoint(t *testing.T) {
	trusted := nostr.GeneratePrivateKey()
	trustedPK, _ := nostr.GetPublicKey(trusted)
	tm := start(t, func(c *marketplace.Config) { c.Seeds = []string{trustedPK} }, nil)
	rl := connect(t, tm.URL)
	evts := []*nostr.Event{
		offer(t, nostr.GeneratePrivateKey(), "a", 30, "u0yjj"),
		offer(t, trusted, "b", 90, "dr5rs"),
		offer(t, nostr.GeneratePrivateKey(), "c", 60, "dr5ru"),
	}
	for _, e := range evts {
		if err := rl.Publish(t.Context(), *e); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three offers", func() bool { return len(book(t, tm, "resource=bandwidth").Offers) == 3 })
	tests := []struct {
		query string
		want  []uint64 // prices in order
	}{
		{"resource=bandwidth", []uint64{30, 60, 90}},
		{"resource=bandwidth&ceiling=60", []uint64{30, 60}},
		{"resource=bandwidth&region=dr5", []uint64{60, 90}},
		{"resource=bandwidth&min_trust=50", []uint64{90}},
		{"resource=bandwidth&sort=trust", []uint64{90, 30, 60}},
		{"resource=bandwidth&limit=1", []uint64{30}},
		{"resource=storage", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			var got []uint64
			for _, o := range book(t, tm, tc.query).Offers {
				got = append(got, o.Prices[0].Msat)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("prices %v, want %v", got, tc.want)
			}
		})
	}
	for _, q := range []string{"resource=gold", "resource=storage&ceiling=-1", "resource=storage&min_trust=101", "resource=storage&sort=age", "resource=storage&limit=0"} {
		resp, err := http.Get(tm.HTTP + "/api/book?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
	// The same search as a plain REQ with the protocol's tags.
	got, err := rl.QuerySync(t.Context(), nips.OfferQuery{Resource: nips.Bandwidth, Ceiling: 60, Region: "dr5"}.Filter())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != evts[2].ID {
		t.Fatalf("REQ by resource, ceiling and region returned %d events", len(got))
	}
}

func TestTrustedKeysGetHigherRateLimits(t *testing.T) {
	trusted := nostr.GeneratePrivateKey()
	trustedPK, _ := nostr.GetPublicKey(trusted)
	tm := start(t, func(c *marketplace.Config) {
		c.Seeds = []string{trustedPK}
		c.UnknownRate, c.UnknownBurst, c.TrustedRate, c.TrustedBurst = 0.001, 3, 0.01, 30
	}, nil)
	rl := connect(t, tm.URL)
	publishN := func(sk string, n int) (accepted int, last error) {
		for i := range n {
			evt := sign(t, nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: fmt.Sprint(i)}, sk)
			if err := rl.Publish(t.Context(), *evt); err != nil {
				return accepted, err
			}
			accepted++
		}
		return accepted, nil
	}
	n, err := publishN(nostr.GeneratePrivateKey(), 10)
	if n != 3 || err == nil || !strings.Contains(err.Error(), "rate-limited:") {
		t.Fatalf("unknown key: %d accepted, then %v; want 3 then rate-limited", n, err)
	}
	if n, err := publishN(trusted, 10); n != 10 {
		t.Fatalf("trusted key: %d accepted (%v), want 10", n, err)
	}
}

func TestReplayAfterRestartKeepsBookAndPublishesNoDuplicate(t *testing.T) {
	dir := t.TempDir()
	sameDir := func(c *relay.Config) { c.DataDir = dir }
	provider, buyer := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	o := offer(t, provider, "keep", 40, "dr5rs")
	bid := openBid(t, buyer, 100, 80)
	func() {
		tm := start(t, nil, sameDir)
		rl := connect(t, tm.URL)
		for _, e := range []*nostr.Event{o, bid} {
			if err := rl.Publish(t.Context(), *e); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the proposal", func() bool { return tm.m.ProposalsPublished() == 1 })
		rl.Close()
		if err := tm.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}()
	tm := start(t, nil, sameDir)
	v := book(t, tm, "resource=bandwidth")
	if len(v.Offers) != 1 || v.Offers[0].EventID != o.ID {
		t.Fatalf("book after restart: %+v", v.Offers)
	}
	if v.Offers[0].Capacity != nipstest.BandwidthOffer().Capacity-100 {
		t.Fatalf("capacity %d after restart, want the fill subtracted", v.Offers[0].Capacity)
	}
	if n := tm.m.ProposalsPublished(); n != 0 {
		t.Fatalf("%d proposals published again after restart", n)
	}
	proposals, err := connect(t, tm.URL).QuerySync(t.Context(), nostr.Filter{Kinds: []int{nips.KindProposal}})
	if err != nil || len(proposals) != 1 {
		t.Fatalf("%d proposals stored (%v), want 1", len(proposals), err)
	}
}

// TestTrustRanksAsNIP85: the relay publishes each ranked key's trust rank
// as a NIP-85 assertion (kind 30382) signed with its key, which a plain
// Nostr client reads with an ordinary filter.
func TestTrustRanksAsNIP85(t *testing.T) {
	seeds := []string{nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()}
	var seedPKs []string
	for _, sk := range seeds {
		pk, _ := nostr.GetPublicKey(sk)
		seedPKs = append(seedPKs, pk)
	}
	tm := start(t, func(c *marketplace.Config) { c.Seeds = seedPKs }, nil)
	rl := connect(t, tm.URL)
	for _, pk := range seedPKs {
		var got []*nostr.Event
		for range 250 {
			var err error
			got, err = rl.QuerySync(t.Context(), nostr.Filter{Kinds: []int{nips.KindUserAssertion}, Authors: []string{tm.PublicKey()}, Tags: nostr.TagMap{"d": {pk}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(got) != 1 {
			t.Fatalf("%d assertions about seed %s, want 1", len(got), pk)
		}
		if d, rank := got[0].Tags.GetD(), got[0].Tags.Find("rank"); d != pk || len(rank) != 2 || rank[1] != "100" {
			t.Fatalf("assertion tags %v, want rank 100 for %s", got[0].Tags, pk)
		}
		if ok, _ := got[0].CheckSignature(); !ok {
			t.Fatal("assertion signature does not verify")
		}
	}
}
