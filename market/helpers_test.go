package market

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

var t0 = time.Unix(1767225600, 0)

const mint = "https://mint.example.com"

// hexID derives a 64-hex id or pubkey from a name.
func hexID(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])
}

var (
	cashuSat  = nips.Payment{Method: nips.PayCashu, Mint: mint, Unit: "sat"}
	lightning = nips.Payment{Method: nips.PayLightning}
)

func mkOffer(name string, mods ...func(*nips.Offer)) nips.Offer {
	o := nips.Offer{
		ID: name, Resource: nips.Bandwidth,
		Prices:      nips.Prices{{Unit: nips.UnitMiB, Msat: 50}},
		MinQuantity: 1, MaxQuantity: 1000, Capacity: 10_000,
		Payments: []nips.Payment{cashuSat}, Geohash: "dr5ru", Tier: nips.TierBranch,
		Expiration: nostr.Timestamp(t0.Unix() + 3600),
		Pubkey:     hexID("provider " + name), EventID: hexID("offer event " + name),
		CreatedAt: nostr.Timestamp(t0.Unix()),
	}
	for _, m := range mods {
		m(&o)
	}
	return o
}

func mkBid(name string, mods ...func(*nips.Bid)) nips.Bid {
	b := nips.Bid{
		Resource: nips.Bandwidth, MaxPrices: nips.Prices{{Unit: nips.UnitMiB, Msat: 80}},
		Quantity: 100, MinFill: 1, Payments: []nips.Payment{cashuSat},
		Expiration: nostr.Timestamp(t0.Unix() + 600),
		Pubkey:     hexID("buyer " + name), EventID: hexID("bid event " + name),
		CreatedAt: nostr.Timestamp(t0.Unix() + 1),
	}
	for _, m := range mods {
		m(&b)
	}
	return b
}

func newBook(t testing.TB, r nips.Resource, trust TrustFunc) *Book {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Trust = trust
	b, err := NewBook(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func must(t *testing.T) func([]Fill, error) []Fill {
	t.Helper()
	return func(f []Fill, err error) []Fill {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
}

func fillsString(fs []Fill) string {
	s := ""
	for _, f := range fs {
		s += fmt.Sprintf("[%s %d@%d]", f.Offer[len(f.Offer)-min(len(f.Offer), 6):], f.Quantity, f.Prices.Sum())
	}
	return s
}

// onSale returns the capacity of the offer at addr that the book's view
// (what GET /api/book serves) shows, and whether the view shows the offer.
func onSale(b *Book, addr string) (uint64, bool) {
	for _, o := range b.View(ViewQuery{Limit: MaxViewLimit, Now: t0}).Offers {
		if o.Address == addr {
			return o.Capacity, true
		}
	}
	return 0, false
}
