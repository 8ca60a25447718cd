package market

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/nips"
)

// TestMaxFill: no fill of a bid takes more than its max_fill, whichever
// way the fill is made (the bid arriving, an offer arriving for a resting
// bid, a refusal proposing the rest elsewhere), and a bid for N replicas
// of S (quantity N*S, min_fill = max_fill = S) is proposed to N offers, S
// each.
func TestMaxFill(t *testing.T) {
	replicas := func(b *nips.Bid) { b.Quantity, b.MinFill, b.MaxFill = 30, 10, 10 }
	t.Run("bid arriving", func(t *testing.T) {
		book := newBook(t, nips.Bandwidth, nil)
		for _, n := range []string{"a", "b", "c", "d"} {
			must(t)(book.AddOffer(mkOffer(n), t0))
		}
		fills := must(t)(book.AddBid(mkBid("r", replicas), t0))
		if len(fills) != 3 {
			t.Fatalf("fills %s, want 3 of 10", fillsString(fills))
		}
		seen := map[string]bool{}
		for _, f := range fills {
			if f.Quantity != 10 || seen[f.Offer] {
				t.Fatalf("fills %s, want 10 from each of 3 offers", fillsString(fills))
			}
			seen[f.Offer] = true
		}
		// The refused replica goes to the fourth offer, at 10 again.
		again, ok := book.Refuse(fills[0].Session, fills[0].Provider, t0)
		if !ok || len(again) != 1 || again[0].Quantity != 10 || seen[again[0].Offer] {
			t.Fatalf("after a refusal: %s (%v)", fillsString(again), ok)
		}
	})
	t.Run("offer arriving", func(t *testing.T) {
		book := newBook(t, nips.Bandwidth, nil)
		must(t)(book.AddBid(mkBid("r", replicas), t0))
		fills := must(t)(book.AddOffer(mkOffer("a"), t0))
		if len(fills) != 1 || fills[0].Quantity != 10 {
			t.Fatalf("fills %s, want one of 10", fillsString(fills))
		}
	})
	t.Run("random books", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 200 {
			book := newBook(t, nips.Bandwidth, nil)
			var fills []Fill
			for j := range 1 + rng.IntN(5) {
				fills = append(fills, must(t)(book.AddOffer(mkOffer(string(rune('a'+j)), func(o *nips.Offer) {
					o.MaxQuantity, o.Capacity = 1+rng.Uint64N(300), 1+rng.Uint64N(600)
				}), t0))...)
			}
			bids := map[string]nips.Bid{}
			for j := range 1 + rng.IntN(5) {
				b := mkBid(string(rune('a'+j)), func(b *nips.Bid) {
					b.Quantity = 1 + rng.Uint64N(500)
					b.MinFill = 1 + rng.Uint64N(b.Quantity)
					b.MaxFill = b.MinFill + rng.Uint64N(b.Quantity-b.MinFill+1)
				})
				bids[b.EventID] = b
				fills = append(fills, must(t)(book.AddBid(b, t0))...)
			}
			for j := 0; j < len(fills); j++ { // refuse some: the rest is proposed again
				if f := fills[j]; rng.IntN(3) == 0 {
					more, _ := book.Refuse(f.Session, f.Provider, t0.Add(time.Second))
					fills = append(fills, more...)
				}
			}
			for _, f := range fills {
				if b := bids[f.BidID]; f.Quantity > b.MaxFill || f.Quantity < b.MinFill {
					t.Fatalf("book %d: fill of %d outside bid %d-%d", i, f.Quantity, b.MinFill, b.MaxFill)
				}
			}
		}
	})
}
