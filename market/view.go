package market

import (
	"time"

	"github.com/sovmesh/sovmesh/nips"
)

// ViewQuery selects what a BookView shows.
type ViewQuery struct {
	Ceiling  uint64    // largest price component in msat; 0 = any
	Region   string    // geohash prefix the offer's geohash must start with; "" = any
	MinTrust int       // smallest provider trust rank; 0 = any (needs Config.Trust)
	Limit    int       // most offers and most bids shown; 0 = DefaultViewLimit
	Now      time.Time // orders expired at Now are left out
}

// DefaultViewLimit and MaxViewLimit bound a view.
const (
	DefaultViewLimit = 100
	MaxViewLimit     = 1000
)

// OfferView is one offer in a BookView (JSON for the relay's HTTP endpoint).
type OfferView struct {
	Address     string         `json:"address"`
	EventID     string         `json:"event_id"`
	Provider    string         `json:"provider"`
	Prices      nips.Prices    `json:"prices"`
	MinQuantity uint64         `json:"min_quantity"`
	MaxQuantity uint64         `json:"max_quantity"`
	Capacity    uint64         `json:"capacity"` // left in the book, after fills
	Payments    []nips.Payment `json:"payments"`
	Geohash     string         `json:"geohash,omitempty"`
	Tier        nips.Tier      `json:"tier"`
	Trust       int            `json:"trust"`
	Models      []string       `json:"models,omitempty"`
	CreatedAt   int64          `json:"created_at"`
	Expiration  int64          `json:"expiration"`
}

// BidView is one resting open bid in a BookView.
type BidView struct {
	EventID    string      `json:"event_id"`
	Buyer      string      `json:"buyer"`
	MaxPrices  nips.Prices `json:"max_prices"`
	Remaining  uint64      `json:"remaining"`
	MinFill    uint64      `json:"min_fill"`
	MaxFill    uint64      `json:"max_fill,omitempty"` // 0: no cap but the remaining quantity
	MinTrust   uint64      `json:"min_trust"`
	Regions    []string    `json:"regions,omitempty"`
	CreatedAt  int64       `json:"created_at"`
	Expiration int64       `json:"expiration"`
}

// BookView is a sorted snapshot of one book: offers cheapest first (price,
// then time), bids most generous first.
type BookView struct {
	Resource nips.Resource `json:"resource"`
	Offers   []OfferView   `json:"offers"`
	Bids     []BidView     `json:"bids"`
}

// View returns the sorted snapshot selected by q.
func (b *Book) View(q ViewQuery) BookView {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultViewLimit
	}
	limit = min(limit, MaxViewLimit)
	t := ts(q.Now)
	v := BookView{Resource: b.resource, Offers: []OfferView{}, Bids: []BidView{}}
	for _, e := range b.offers {
		if len(v.Offers) >= limit {
			break
		}
		o := e.o
		if o.Expiration <= t || (q.Ceiling > 0 && o.Prices.Max() > q.Ceiling) ||
			(q.Region != "" && !inRegion(o.Geohash, []string{q.Region})) {
			continue
		}
		trust := 0
		if b.cfg.Trust != nil {
			trust = b.cfg.Trust(o.Pubkey)
		}
		if trust < q.MinTrust {
			continue
		}
		v.Offers = append(v.Offers, OfferView{
			Address: o.Address(), EventID: o.EventID, Provider: o.Pubkey, Prices: o.Prices,
			MinQuantity: o.MinQuantity, MaxQuantity: o.MaxQuantity, Capacity: e.capacity,
			Payments: o.Payments, Geohash: o.Geohash, Tier: o.Tier, Trust: trust, Models: o.Models,
			CreatedAt: int64(o.CreatedAt), Expiration: int64(o.Expiration),
		})
	}
	for _, e := range b.bids {
		if len(v.Bids) >= limit {
			break
		}
		bid := e.b
		if bid.Expiration <= t || (q.Region != "" && len(bid.Regions) > 0 && !anyPrefixOverlap(q.Region, bid.Regions)) {
			continue
		}
		v.Bids = append(v.Bids, BidView{
			EventID: bid.EventID, Buyer: bid.Pubkey, MaxPrices: bid.MaxPrices, Remaining: e.remaining,
			MinFill: bid.MinFill, MaxFill: bid.MaxFill, MinTrust: bid.MinTrust, Regions: bid.Regions,
			CreatedAt: int64(bid.CreatedAt), Expiration: int64(bid.Expiration),
		})
	}
	return v
}

// anyPrefixOverlap reports whether region and one of regions name
// overlapping cells (one is a prefix of the other).
func anyPrefixOverlap(region string, regions []string) bool {
	for _, r := range regions {
		n := min(len(r), len(region))
		if r[:n] == region[:n] {
			return true
		}
	}
	return false
}
