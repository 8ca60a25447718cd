package market

import (
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// confirmOf is the provider's match confirming fill f for quantity q.
func confirmOf(f Fill, q uint64) nips.Match {
	m := f.Proposal().Confirm("creqAx", nostr.Timestamp(f.Expires.Unix()))
	m.Quantity, m.Pubkey, m.CreatedAt = q, f.Provider, nostr.Timestamp(t0.Unix())
	return m
}

// confirmed is the provider's match of all of f, with an event id.
func confirmed(f Fill) nips.Match {
	m := confirmOf(f, f.Quantity)
	m.EventID = hexID("match " + f.Session)
	return m
}

// declineOf is signer's decline of the match confirmed(f).
func declineOf(f Fill, signer string) nips.Refusal {
	return nips.Refusal{Match: confirmed(f).EventID, Bid: f.BidID, To: f.Provider, Session: f.Session, Pubkey: signer}
}

// releaseOf is signer's release of the match confirmed(f), lapsed unpaid.
func releaseOf(f Fill, signer string) nips.Refusal {
	return nips.Refusal{Release: confirmed(f).EventID, Bid: f.BidID, To: f.Buyer, Session: f.Session, Pubkey: signer}
}

func mustDecline(t *testing.T, b *Book, d nips.Refusal) []Fill {
	t.Helper()
	fills, ok := b.Decline(d, t0.Add(3*time.Second))
	if !ok {
		t.Fatal("the buyer's decline of a confirmed match not applied")
	}
	return fills
}

// TestProposalOutcomes: a proposal holds its quantity out of the bid and
// the offer until the provider answers; a refusal or a lapse returns both
// and proposes the bid to the next offer, a confirmation keeps them out
// until the bid's buyer declines the match.
func TestProposalOutcomes(t *testing.T) {
	tests := []struct {
		name string
		// answer acts on the first proposal, made at t0+1s.
		answer func(*Book, Fill) []Fill
		// wantNext is the offer the bid is proposed to next ("" = none).
		wantNext string
		// wantCheap is the capacity of offer "cheap" left in the book.
		wantCheap uint64
		wantGone  bool // offer "cheap" no longer in the book
	}{
		{"confirmed", func(b *Book, f Fill) []Fill { return b.Confirm(confirmOf(f, f.Quantity), t0.Add(2*time.Second)) }, "", 0, true},
		{"confirmed in part", func(b *Book, f Fill) []Fill { return b.Confirm(confirmOf(f, 60), t0.Add(2*time.Second)) }, "dear", 40, false},
		{"refused", func(b *Book, f Fill) []Fill {
			fills, ok := b.Refuse(f.Session, f.Provider, t0.Add(2*time.Second))
			if !ok {
				t.Fatal("refusal of our proposal not applied")
			}
			return fills
		}, "dear", 100, false},
		{"refusal by another key", func(b *Book, f Fill) []Fill {
			if _, ok := b.Refuse(f.Session, hexID("someone"), t0.Add(2*time.Second)); ok {
				t.Fatal("refusal by a key that is not the provider applied")
			}
			return nil
		}, "", 0, true},
		{"lapsed", func(b *Book, f Fill) []Fill { return b.Lapse(f.Expires) }, "dear", 100, false},
		{"not yet lapsed", func(b *Book, f Fill) []Fill { return b.Lapse(f.Expires.Add(-time.Second)) }, "", 0, true},
		{"confirmed then declined", func(b *Book, f Fill) []Fill {
			return append(b.Confirm(confirmed(f), t0.Add(2*time.Second)), mustDecline(t, b, declineOf(f, f.Buyer))...)
		}, "", 100, false},
		{"declined by another key", func(b *Book, f Fill) []Fill {
			b.Confirm(confirmed(f), t0.Add(2*time.Second))
			if _, ok := b.Decline(declineOf(f, f.Provider), t0.Add(3*time.Second)); ok {
				t.Fatal("a decline not signed by the buyer applied")
			}
			return nil
		}, "", 0, true},
		{"confirmed then released", func(b *Book, f Fill) []Fill {
			return append(b.Confirm(confirmed(f), t0.Add(2*time.Second)), mustDecline(t, b, releaseOf(f, f.Provider))...)
		}, "", 100, false},
		{"released by another key", func(b *Book, f Fill) []Fill {
			b.Confirm(confirmed(f), t0.Add(2*time.Second))
			if _, ok := b.Decline(releaseOf(f, f.Buyer), t0.Add(3*time.Second)); ok {
				t.Fatal("a release not signed by the provider applied")
			}
			return nil
		}, "", 0, true},
		{"match signed by another key", func(b *Book, f Fill) []Fill {
			m := confirmOf(f, f.Quantity)
			m.Pubkey = hexID("relay")
			return append(b.Confirm(m, t0.Add(2*time.Second)), b.Lapse(f.Expires)...)
		}, "dear", 100, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			book := newBook(t, nips.Bandwidth, nil)
			cheap := mkOffer("cheap", func(o *nips.Offer) { o.Capacity, o.MaxQuantity = 100, 100 })
			dear := mkOffer("dear", func(o *nips.Offer) { o.Prices[0].Msat = 70 })
			must(t)(book.AddOffer(cheap, t0))
			must(t)(book.AddOffer(dear, t0))
			fills := must(t)(book.AddBid(mkBid("b"), t0.Add(time.Second)))
			if len(fills) != 1 || fills[0].Offer != cheap.Address() || fills[0].Quantity != 100 {
				t.Fatalf("first proposal %s", fillsString(fills))
			}
			if c, ok := onSale(book, cheap.Address()); ok {
				t.Fatalf("proposed capacity still on sale: %d", c)
			}
			next := tc.answer(book, fills[0])
			switch {
			case tc.wantNext == "" && len(next) != 0:
				t.Fatalf("want no new proposal, got %s", fillsString(next))
			case tc.wantNext != "" && (len(next) != 1 || next[0].Offer != mkOffer(tc.wantNext).Address()):
				t.Fatalf("want the bid proposed to %s, got %s", tc.wantNext, fillsString(next))
			}
			if tc.wantNext != "" && next[0].Session == fills[0].Session {
				t.Fatal("a new proposal reuses the session of the first")
			}
			c, ok := onSale(book, cheap.Address())
			if ok == tc.wantGone || (ok && c != tc.wantCheap) {
				t.Fatalf("cheap offer: capacity %d in book %v; want %d, gone %v", c, ok, tc.wantCheap, tc.wantGone)
			}
		})
	}
}

// TestRefusedOfferTakesOtherBids: an offer whose provider refused one bid
// is not proposed that bid again, but its restored capacity goes to the
// next resting bid.
func TestRefusedOfferTakesOtherBids(t *testing.T) {
	book := newBook(t, nips.Bandwidth, nil)
	o := mkOffer("only", func(o *nips.Offer) { o.Capacity, o.MaxQuantity = 100, 100 })
	must(t)(book.AddOffer(o, t0))
	first := must(t)(book.AddBid(mkBid("first"), t0.Add(time.Second)))
	if len(first) != 1 {
		t.Fatalf("first bid: %s", fillsString(first))
	}
	if f := must(t)(book.AddBid(mkBid("second", func(b *nips.Bid) { b.CreatedAt++ }), t0.Add(2*time.Second))); len(f) != 0 {
		t.Fatalf("capacity proposed twice: %s", fillsString(f))
	}
	next, ok := book.Refuse(first[0].Session, o.Pubkey, t0.Add(3*time.Second))
	if !ok || len(next) != 1 || next[0].BidID != mkBid("second").EventID || next[0].Quantity != 100 {
		t.Fatalf("after refusal: %s", fillsString(next))
	}
	// The first bid rests, never proposed to this offer again.
	if _, bids := book.Len(); bids != 1 {
		t.Fatalf("resting bids %d, want the refused one", bids)
	}
	// When the second lapses too, both bids rest and the capacity is back.
	if f := book.Lapse(next[0].Expires); len(f) != 0 {
		t.Fatalf("after the second lapsed: %s", fillsString(f))
	}
	if c, ok := onSale(book, o.Address()); !ok || c != 100 {
		t.Fatalf("capacity %d (in book %v), want 100 back", c, ok)
	}
	if _, bids := book.Len(); bids != 2 {
		t.Fatalf("resting bids %d, want 2", bids)
	}
}

// TestConfirmedElsewhere: a provider's match for a bid that another relay
// proposed takes the quantity out of this book's bid and offer, also when
// it arrives before the bid.
func TestConfirmedElsewhere(t *testing.T) {
	book := newBook(t, nips.Bandwidth, nil)
	o := mkOffer("o", func(o *nips.Offer) { o.Capacity, o.MaxQuantity = 100, 100 })
	bid := mkBid("b")
	m := nips.Match{Bid: bid.EventID, Offer: o.Address(), Buyer: bid.Pubkey, Provider: o.Pubkey, Resource: nips.Bandwidth,
		Quantity: 100, Session: hexID("elsewhere"), Pubkey: o.Pubkey, CreatedAt: nostr.Timestamp(t0.Unix())}
	forged := m
	forged.Offer, forged.Provider, forged.Pubkey = mkOffer("none").Address(), mkOffer("none").Pubkey, mkOffer("none").Pubkey
	must(t)(book.AddOffer(o, t0))
	book.Confirm(forged, t0) // a key with no offer in the book changes nothing
	book.Confirm(m, t0)      // before the bid
	if f := must(t)(book.AddBid(bid, t0.Add(time.Second))); len(f) != 0 {
		t.Fatalf("a bid filled elsewhere was proposed again: %s", fillsString(f))
	}
	if _, bids := book.Len(); bids != 0 {
		t.Fatal("a bid filled elsewhere rests in the book")
	}
	// The forged match took nothing out of another bid.
	other := mkBid("other")
	if f := must(t)(book.AddBid(other, t0.Add(time.Second))); len(f) != 0 {
		t.Fatalf("the offer's capacity was sold elsewhere, yet proposed: %s", fillsString(f))
	}
	book2 := newBook(t, nips.Bandwidth, nil)
	o2 := mkOffer("o2", func(o *nips.Offer) { o.Capacity, o.MaxQuantity = 100, 100 })
	must(t)(book2.AddOffer(o2, t0))
	victim := mkBid("victim")
	forged.Bid = victim.EventID
	book2.Confirm(forged, t0)
	if f := must(t)(book2.AddBid(victim, t0.Add(time.Second))); len(f) != 1 || f[0].Quantity != 100 {
		t.Fatalf("a forged match took quantity out of a bid: %s", fillsString(f))
	}
}

// TestBidEnds: the book says when it has nothing more to propose for an
// open bid (BidEnd, published as a nips.ProposalsEnd): no proposal of it
// pending and no offer that can fill the rest, counting the proposals
// made; never while a proposal awaits its provider, and never for a bid
// its buyer cancelled.
func TestBidEnds(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name   string
		offers []string
		// then acts on the bid's fills (made at t0+1s) and returns the
		// new fills.
		then func(*Book, []Fill) []Fill
		want []uint64 // the ends taken after then, by proposals counted
	}{
		{"no offer: ended at once, nothing proposed", nil, nil, []uint64{0}},
		{"proposed: not ended while the provider answers", []string{"a"}, nil, nil},
		{"confirmed in full", []string{"a"}, func(b *Book, f []Fill) []Fill {
			return b.Confirm(confirmOf(f[0], f[0].Quantity), at(2))
		}, []uint64{1}},
		{"refused, no other offer", []string{"a"}, func(b *Book, f []Fill) []Fill {
			fills, _ := b.Refuse(f[0].Session, f[0].Provider, at(2))
			return fills
		}, []uint64{1}},
		{"refused, proposed to the next offer: not ended yet", []string{"a", "b"}, func(b *Book, f []Fill) []Fill {
			fills, _ := b.Refuse(f[0].Session, f[0].Provider, at(2))
			return fills
		}, nil},
		{"lapsed", []string{"a"}, func(b *Book, f []Fill) []Fill { return b.Lapse(at(120)) }, []uint64{1}},
		{"cancelled while proposed", []string{"a"}, func(b *Book, f []Fill) []Fill {
			b.Cancel(nips.Deletion{IDs: []string{f[0].BidID}, Pubkey: f[0].Buyer})
			fills, _ := b.Refuse(f[0].Session, f[0].Provider, at(2))
			return fills
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBook(t, nips.Bandwidth, nil)
			for i, name := range tt.offers {
				// "a" fills the whole bid; "b" costs more.
				must(t)(b.AddOffer(mkOffer(name, func(o *nips.Offer) { o.Prices[0].Msat += uint64(i) }), t0))
			}
			b.TakeEnded()
			fills := must(t)(b.AddBid(mkBid("x"), at(1)))
			if tt.then != nil {
				if len(b.TakeEnded()) != 0 {
					t.Fatal("ended with a proposal pending")
				}
				tt.then(b, fills)
			}
			var got []uint64
			for _, e := range b.TakeEnded() {
				if e.BidID != mkBid("x").EventID || e.Buyer != mkBid("x").Pubkey {
					t.Fatalf("end %+v names another bid", e)
				}
				got = append(got, e.Proposals)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Fatalf("ends counting %v proposals, want %v", got, tt.want)
			}
		})
	}
}
