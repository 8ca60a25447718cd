package market

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

var geohashes = []string{"dr5ru", "dr7ab", "u0yjj", "9q8yy", "gcpvj", "xn76u", "sv8wr", "c23nb"}

// benchBook returns a bandwidth book with n open offers from n providers,
// prices 20-119 msat/MiB, capacities large enough never to run out.
func benchBook(b *testing.B, n int, trust TrustFunc) *Book {
	b.Helper()
	book := newBook(b, nips.Bandwidth, trust)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		o := nips.Offer{
			ID: fmt.Sprintf("o%d", i), Resource: nips.Bandwidth,
			Prices:      nips.Prices{{Unit: nips.UnitMiB, Msat: 20 + rng.Uint64N(100)}},
			MinQuantity: 1, MaxQuantity: 1 << 20, Capacity: nips.MaxQuantity,
			Payments: []nips.Payment{cashuSat, lightning},
			Geohash:  geohashes[i%len(geohashes)], Tier: nips.TierBranch,
			Expiration: nostr.Timestamp(t0.Unix() + 86400),
			Pubkey:     hexID(fmt.Sprintf("p%d", i)), EventID: hexID(fmt.Sprintf("e%d", i)),
			CreatedAt: nostr.Timestamp(t0.Unix() + int64(i%1000)),
		}
		if _, err := book.AddOffer(o, t0); err != nil {
			b.Fatal(err)
		}
	}
	return book
}

// BenchmarkMatch measures open bids matched per second against a book of
// 10k open offers. Each bid is filled (so the book does not grow):
//   - cheapest: any offer will do, the first in price order fills it;
//   - region: the bid accepts one region of 8, so about 1 offer in 8 is eligible;
//   - trust: the bid wants trust 50, which 1 provider in 16 has;
//   - split: the bid is 4x an offer's max quantity, so it takes four fills;
//   - full-scan-no-match: no offer is in the bid's region, so every offer
//     under its ceiling is examined (the worst case), and the bid is
//     cancelled again so the book stays at 10k offers.
func BenchmarkMatch(b *testing.B) {
	trust := func(pk string) int {
		if pk[0] == '0' { // about 1 key in 16 is trusted
			return 80
		}
		return 0
	}
	cases := []struct {
		name string
		bid  func(*nips.Bid)
	}{
		{"cheapest", func(*nips.Bid) {}},
		{"region", func(bd *nips.Bid) { bd.Regions = []string{"u0y"} }},
		{"trust", func(bd *nips.Bid) { bd.MinTrust = 50 }},
		{"split", func(bd *nips.Bid) { bd.Quantity = 4 << 20 }},
		{"full-scan-no-match", func(bd *nips.Bid) { bd.Regions = []string{"zz"} }},
	}
	for _, tc := range cases {
		b.Run(tc.name+"/offers=10k", func(b *testing.B) {
			book := benchBook(b, 10_000, trust)
			now := t0.Add(time.Second)
			b.ReportAllocs()
			b.ResetTimer()
			fills := 0
			for i := 0; i < b.N; i++ {
				bd := nips.Bid{
					Resource: nips.Bandwidth, MaxPrices: nips.Prices{{Unit: nips.UnitMiB, Msat: 200}},
					Quantity: 100, MinFill: 1, Payments: []nips.Payment{cashuSat},
					Expiration: nostr.Timestamp(t0.Unix() + 600),
					Pubkey:     "buyer", EventID: fmt.Sprintf("bid%d", i), CreatedAt: nostr.Timestamp(t0.Unix()),
				}
				tc.bid(&bd)
				f, err := book.AddBid(bd, now)
				if err != nil || (len(f) == 0) != (len(bd.Regions) > 0 && bd.Regions[0] == "zz") {
					b.Fatalf("bid %d: %v fills, %v", i, len(f), err)
				}
				if len(f) == 0 { // keep the book at 10k offers and no bids
					book.Cancel(nips.Deletion{Pubkey: bd.Pubkey, IDs: []string{bd.EventID}})
				}
				fills += len(f)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bids/s")
			b.ReportMetric(float64(fills)/float64(b.N), "fills/bid")
		})
	}
}

// BenchmarkTrustCompute measures a trust computation over a graph of
// 1000 keys and 10k receipts.
func BenchmarkTrustCompute(b *testing.B) {
	g := NewTrustGraph()
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = hexID(fmt.Sprintf("k%d", i))
	}
	for i := 0; i < 10_000; i++ {
		p, bu := keys[rng.IntN(len(keys))], keys[rng.IntN(len(keys))]
		if p == bu {
			continue
		}
		g.AddReceipt(nips.Receipt{
			Pubkey: p, Buyer: bu, Session: hexID(fmt.Sprintf("s%d", i)), EventID: hexID(fmt.Sprintf("r%d", i)),
			Paid: 1000 + rng.Uint64N(1_000_000), Countersig: "verified-by-parse", CreatedAt: nostr.Timestamp(t0.Unix() - rng.Int64N(180*86400)),
		})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := g.Compute(keys[:5], t0, DefaultTrustParams())
		if !s.Known(keys[0]) {
			b.Fatal("seed unknown")
		}
	}
}
