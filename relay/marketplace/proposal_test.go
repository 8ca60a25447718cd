package marketplace_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
	"github.com/sovmesh/sovmesh/relay/marketplace"
)

// TestProposalRefusedOrLapsedReturnsBidAndCapacity: the relay's fill of an
// open bid is a proposal that holds the offer's capacity; when the provider
// refuses it, or lets it lapse (on the market's clock), the capacity returns
// to the offer and the bid is proposed to the next offer, whose provider's
// match confirms it for good: one match, signed by the provider.
func TestProposalRefusedOrLapsedReturnsBidAndCapacity(t *testing.T) {
	tests := []struct {
		name string
		// decline makes the cheap provider's proposal fail.
		decline func(t *testing.T, tm testMarket, rl *nostr.Relay, p nips.Proposal, sk string, clock *atomic.Int64)
	}{
		{"refused", func(t *testing.T, tm testMarket, rl *nostr.Relay, p nips.Proposal, sk string, _ *atomic.Int64) {
			r := nips.Refusal{Proposal: p.EventID, Bid: p.Bid, To: tm.PublicKey(), Session: p.Session, Reason: "full", Expiration: nostr.Now() + 60}
			if err := rl.Publish(t.Context(), *sign(t, r.ToEvent(nostr.Now()), sk)); err != nil {
				t.Fatal(err)
			}
		}},
		{"lapsed", func(_ *testing.T, _ testMarket, _ *nostr.Relay, _ nips.Proposal, _ string, clock *atomic.Int64) {
			clock.Add(int64(2 * time.Minute)) // past the proposal TTL; the next lapse tick sees it
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var skew atomic.Int64
			tm := start(t, func(c *marketplace.Config) {
				c.ExpireInterval = 20 * time.Millisecond
				c.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			}, nil)
			cheapSK, dearSK, buyer := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
			buyerPK, _ := nostr.GetPublicKey(buyer)
			dearPK, _ := nostr.GetPublicKey(dearSK)
			rl := connect(t, tm.URL)
			cheap, dear := offer(t, cheapSK, "cheap", 40, "dr5rs"), offer(t, dearSK, "dear", 70, "dr5rs")
			for _, o := range []*nostr.Event{cheap, dear} {
				if err := rl.Publish(t.Context(), *o); err != nil {
					t.Fatal(err)
				}
			}
			cheapAddr, dearAddr := "38460:"+cheap.PubKey+":cheap", "38460:"+dearPK+":dear"
			full := nipstest.BandwidthOffer().Capacity
			sub, err := rl.Subscribe(t.Context(), nostr.Filters{{Kinds: []int{nips.KindProposal}, Tags: nostr.TagMap{"p": {buyerPK}}}})
			if err != nil {
				t.Fatal(err)
			}
			<-sub.EndOfStoredEvents
			bid := openBid(t, buyer, 1024, 80)
			if err := rl.Publish(t.Context(), *bid); err != nil {
				t.Fatal(err)
			}
			first, err := nips.ParseProposal(next(t, sub))
			if err != nil || first.Offer != cheapAddr {
				t.Fatalf("first proposal %+v (%v), want the cheap offer", first, err)
			}
			if c, _ := onSale(t, tm, cheapAddr); c != full-1024 {
				t.Fatalf("cheap capacity %d while proposed, want %d", c, full-1024)
			}

			tc.decline(t, tm, rl, first, cheapSK, &skew)
			second, err := nips.ParseProposal(next(t, sub))
			if err != nil || second.Offer != dearAddr || second.Bid != bid.ID || second.Quantity != 1024 || second.Session == first.Session {
				t.Fatalf("second proposal %+v (%v), want the bid on the dear offer", second, err)
			}
			if c, _ := onSale(t, tm, cheapAddr); c != full {
				t.Fatalf("cheap capacity %d after the proposal failed, want all %d back", c, full)
			}

			// The dear provider confirms with its match: the bid is filled.
			m := second.Confirm(nipstest.ExampleEvents()["match.json"].Tags.Find("payment_request")[1], nostr.Now()+600)
			if err := rl.Publish(t.Context(), *sign(t, m.ToEvent(nostr.Now()), dearSK)); err != nil {
				t.Fatal(err)
			}
			// A later bid, applied after the match (one queue, in order),
			// takes the cheap offer: the confirmed bid is not proposed again.
			later := openBid(t, buyer, 10, 80)
			if err := rl.Publish(t.Context(), *later); err != nil {
				t.Fatal(err)
			}
			third, err := nips.ParseProposal(next(t, sub))
			if err != nil || third.Bid != later.ID || third.Offer != cheapAddr {
				t.Fatalf("third proposal %+v (%v), want the later bid on the cheap offer", third, err)
			}
			if n := metric(t, tm, "sovmesh_market_proposals_pending"); n != 1 {
				t.Fatalf("/metrics: %v proposals pending, want only the later bid's", n)
			}
			// Counted once its publication returned (after subscribers got it).
			waitFor(t, "/metrics to count 3 proposals published", func() bool {
				return metric(t, tm, "sovmesh_market_proposals_published_total") == 3
			})
			if c, _ := onSale(t, tm, dearAddr); c != full-1024 {
				t.Fatalf("dear capacity %d after the match, want %d", c, full-1024)
			}
			matches, err := rl.QuerySync(t.Context(), nostr.Filter{Kinds: []int{nips.KindMatch}, Tags: nostr.TagMap{"e": {bid.ID}}})
			if err != nil || len(matches) != 1 || matches[0].PubKey != dearPK {
				t.Fatalf("%d matches for the bid (%v), want the dear provider's only", len(matches), err)
			}
		})
	}
}

// onSale returns the capacity of the bandwidth offer at addr that the
// relay's GET /api/book shows, and whether it shows the offer.
func onSale(t *testing.T, tm testMarket, addr string) (uint64, bool) {
	t.Helper()
	for _, o := range book(t, tm, "resource=bandwidth&limit=1000").Offers {
		if o.Address == addr {
			return o.Capacity, true
		}
	}
	return 0, false
}

// metric reads one unlabelled series from the relay's /metrics.
func metric(t *testing.T, tm testMarket, name string) float64 {
	t.Helper()
	resp, err := http.Get(tm.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// TestEndOfProposals: an open bid no offer can fill is ended at once by
// the relay (kind 8470, signed with its key, counting 0 proposals); one
// that is proposed is ended when its provider refuses and no other offer
// can take it, counting the one proposal. A client cannot publish an end
// of proposals of its own (it would end another buyer's wait).
func TestEndOfProposals(t *testing.T) {
	tm := start(t, nil, nil)
	rl := connect(t, tm.URL)
	ctx := t.Context()
	buyerSK, providerSK := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	buyerPK, _ := nostr.GetPublicKey(buyerSK)
	ends, err := rl.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindProposalsEnd, nips.KindProposal}, Tags: nostr.TagMap{"p": {buyerPK}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ends.Unsub()
	nextEnd := func(bid string) nips.ProposalsEnd {
		t.Helper()
		for {
			evt := next(t, ends)
			if evt.Kind != nips.KindProposalsEnd {
				continue
			}
			e, err := nips.ParseProposalsEnd(evt)
			if err != nil || e.Pubkey != tm.Relay.PublicKey() || e.Bid != bid || e.Buyer != buyerPK {
				t.Fatalf("end of proposals %+v (%v)", e, err)
			}
			return e
		}
	}
	lone := openBid(t, buyerSK, 10, 100)
	if err := rl.Publish(ctx, *lone); err != nil {
		t.Fatal(err)
	}
	if e := nextEnd(lone.ID); e.Proposals != 0 {
		t.Fatalf("a bid with no offer: end counting %d proposals", e.Proposals)
	}

	if err := rl.Publish(ctx, *offer(t, providerSK, "o", 50, "u0yjj")); err != nil {
		t.Fatal(err)
	}
	bid := openBid(t, buyerSK, 10, 100)
	if err := rl.Publish(ctx, *bid); err != nil {
		t.Fatal(err)
	}
	var prop nips.Proposal
	for prop.Bid != bid.ID {
		evt := next(t, ends)
		if evt.Kind == nips.KindProposal {
			if prop, err = nips.ParseProposal(evt); err != nil {
				t.Fatal(err)
			}
		}
	}
	refusal := nips.Refusal{Proposal: prop.EventID, Bid: bid.ID, To: tm.Relay.PublicKey(), Session: prop.Session,
		Reason: "full", Expiration: nostr.Now() + 60}
	if err := rl.Publish(ctx, *sign(t, refusal.ToEvent(nostr.Now()), providerSK)); err != nil {
		t.Fatal(err)
	}
	if e := nextEnd(bid.ID); e.Proposals != 1 {
		t.Fatalf("a bid refused by its one offer: end counting %d proposals, want 1", e.Proposals)
	}

	forged := nips.ProposalsEnd{Bid: bid.ID, Buyer: buyerPK, Expiration: nostr.Now() + 60}
	err = rl.Publish(ctx, *sign(t, forged.ToEvent(nostr.Now()), providerSK))
	if err == nil || !strings.Contains(err.Error(), "restricted:") {
		t.Fatalf("an end of proposals signed by a client: %v, want restricted", err)
	}
}
