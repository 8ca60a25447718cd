package nips

import (
	"errors"
	"slices"

	"github.com/nbd-wtf/go-nostr"
)

// MaxBidTTL bounds a bid's expiration: at most 7 days after created_at.
const MaxBidTTL = 7 * 86400

// MaxTrust is the top of the trust scale (a NIP-85-style rank, 0-100).
const MaxTrust = 100

// Bid is a buyer's order (kind 8460, regular). With Offer set it is placed
// against one offer; otherwise it is open for a resource class and the
// relay's matching engine proposes fills that providers confirm. See bid.md.
type Bid struct {
	Resource   Resource // t tag
	Offer      string   // a tag: the offer's address; "" = open bid
	Provider   string   // p tag: the offer's author (set from Offer by ToEvent)
	MaxPrices  Prices   // max_price tags, one per unit of Resource
	Quantity   uint64   // units wanted in all
	MinFill    uint64   // smallest quantity one fill may take (default 1)
	MaxFill    uint64   // largest quantity one fill may take; 0 = no cap but the quantity
	Duration   uint64   // seconds; required for storage (how long to keep the data)
	MinTrust   uint64   // smallest trust rank (0-100) of an acceptable provider
	Regions    []string // g tags: acceptable geohash prefixes (any of them); none = anywhere
	Payments   []Payment
	Model      string          // inference only: the model wanted; "" = any
	Expiration nostr.Timestamp // NIP-40, required, at most MaxBidTTL ahead

	// Set by ParseBid from the event.
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// MaxTotal returns the most the bid can cost: Cost at its maximum prices.
func (b Bid) MaxTotal() (uint64, error) {
	return Cost(b.Resource, b.MaxPrices, b.Quantity, b.Duration)
}

// FillCap returns the largest quantity one fill of the bid may take:
// MaxFill, or the whole quantity when the bid sets none.
func (b Bid) FillCap() uint64 {
	if b.MaxFill == 0 {
		return b.Quantity
	}
	return min(b.MaxFill, b.Quantity)
}

// ToEvent encodes the bid as an unsigned event.
func (b Bid) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	tags := nostr.Tags{{"t", string(b.Resource)}}
	if b.Offer != "" {
		tags = append(tags, nostr.Tag{"a", b.Offer})
		prov := b.Provider
		if pk, _, err := ParseOfferAddress(b.Offer); err == nil {
			prov = pk
		}
		tags = append(tags, nostr.Tag{"p", prov})
	}
	tags = append(tags, priceTags("max_price", b.MaxPrices)...)
	tags = append(tags, nostr.Tag{"quantity", utoa(b.Quantity)})
	if b.MinFill > 1 {
		tags = append(tags, nostr.Tag{"min_fill", utoa(b.MinFill)})
	}
	if b.MaxFill > 0 {
		tags = append(tags, nostr.Tag{"max_fill", utoa(b.MaxFill)})
	}
	if b.Duration > 0 {
		tags = append(tags, nostr.Tag{"duration", utoa(b.Duration)})
	}
	if b.MinTrust > 0 {
		tags = append(tags, nostr.Tag{"min_trust", utoa(b.MinTrust)})
	}
	for _, g := range b.Regions {
		tags = append(tags, nostr.Tag{"g", g})
	}
	for _, p := range b.Payments {
		tags = append(tags, p.Tag())
	}
	if b.Model != "" {
		tags = append(tags, nostr.Tag{"model", b.Model})
	}
	tags = append(tags,
		nostr.Tag{"expiration", utoa(uint64(b.Expiration))},
		nostr.Tag{"alt", "sovmesh market bid for " + string(b.Resource)},
	)
	return nostr.Event{Kind: KindBid, CreatedAt: createdAt, Tags: tags}
}

// ParseBid reads and checks a bid (also a bid unwrapped from a gift wrap,
// which has no signature).
func ParseBid(evt *nostr.Event) (Bid, error) {
	p := newParser("bid")
	if err := p.kind(evt, KindBid); err != nil {
		return Bid{}, err
	}
	b := Bid{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt, MinFill: 1}
	var (
		prices Prices
		err    error
	)
	for _, tag := range evt.Tags {
		switch tag[0] {
		case "t":
			b.Resource, err = p.resource(tag, b.Resource)
		case "a":
			if err = p.once("a"); err == nil {
				if err = p.want(tag, 2, `["a", "38460:<pubkey>:<d>"]`); err == nil {
					b.Offer = tag[1]
					b.Provider, _, err = ParseOfferAddress(tag[1])
					err = p.wrap("a", err)
				}
			}
		case "p":
			if err = p.once("p"); err == nil {
				if err = p.want(tag, 2, `["p", provider_pubkey]`); err == nil && !isHex64(tag[1]) {
					err = perr(p.typ, "p", ErrBadValue, "%q is not a hex pubkey", tag[1])
				}
			}
		case "max_price":
			prices, err = p.price(tag, prices)
		case "quantity":
			if err = p.once("quantity"); err == nil {
				if err = p.want(tag, 2, `["quantity", units]`); err == nil {
					b.Quantity, err = p.uint(tag, 1, 1, MaxQuantity)
				}
			}
		case "min_fill":
			if err = p.once("min_fill"); err == nil {
				if err = p.want(tag, 2, `["min_fill", units]`); err == nil {
					b.MinFill, err = p.uint(tag, 1, 1, MaxQuantity)
				}
			}
		case "max_fill":
			if err = p.once("max_fill"); err == nil {
				if err = p.want(tag, 2, `["max_fill", units]`); err == nil {
					b.MaxFill, err = p.uint(tag, 1, 1, MaxQuantity)
				}
			}
		case "duration":
			if err = p.once("duration"); err == nil {
				if err = p.want(tag, 2, `["duration", seconds]`); err == nil {
					b.Duration, err = p.uint(tag, 1, 1, MaxDuration)
				}
			}
		case "min_trust":
			if err = p.once("min_trust"); err == nil {
				if err = p.want(tag, 2, `["min_trust", 0-100]`); err == nil {
					b.MinTrust, err = p.uint(tag, 1, 0, MaxTrust)
				}
			}
		case "g":
			if err = p.want(tag, 2, `["g", geohash_prefix]`); err == nil {
				switch {
				case len(b.Regions) >= MaxListLen:
					err = perr(p.typ, "g", ErrOutOfRange, "more than %d regions", MaxListLen)
				case slices.Contains(b.Regions, tag[1]):
					err = perr(p.typ, "g", ErrDuplicateTag, "%q", tag[1])
				default:
					err = p.wrap("g", CheckGeohash(tag[1]))
					b.Regions = append(b.Regions, tag[1])
				}
			}
		case "payment":
			b.Payments, err = p.payment(tag, b.Payments)
		case "model":
			if err = p.once("model"); err == nil {
				if err = p.want(tag, 2, `["model", name]`); err == nil {
					b.Model = tag[1]
					if tag[1] == "" {
						err = perr(p.typ, "model", ErrBadValue, "empty model name")
					} else {
						err = p.wrap("model", checkText(tag[1], MaxTextLen))
					}
				}
			}
		case "expiration":
			b.Expiration, err = p.expiration(tag, evt.CreatedAt, MaxBidTTL)
		}
		if err != nil {
			return Bid{}, err
		}
	}
	if b.Resource == "" {
		return Bid{}, perr(p.typ, "t", ErrMissingTag, "one t tag must name the resource: bandwidth, storage or inference")
	}
	if err := p.require("quantity", "expiration"); err != nil {
		return Bid{}, err
	}
	if b.Offer != "" {
		if !p.seen["p"] {
			return Bid{}, perr(p.typ, "p", ErrMissingTag, "a bid on an offer names its provider")
		}
		if pt := evt.Tags.Find("p"); pt[1] != b.Provider {
			return Bid{}, perr(p.typ, "p", ErrBadValue, "provider %s is not the author of offer %s", pt[1], b.Offer)
		}
	} else if p.seen["p"] {
		return Bid{}, perr(p.typ, "p", ErrBadValue, "an open bid names no provider; add the offer's a tag")
	}
	if b.MaxPrices, err = p.checkPrices("max_price", b.Resource, prices); err != nil {
		return Bid{}, err
	}
	if b.MinFill > b.Quantity {
		return Bid{}, perr(p.typ, "min_fill", ErrOutOfRange, "%d exceeds the quantity %d", b.MinFill, b.Quantity)
	}
	if b.MaxFill > b.Quantity {
		return Bid{}, perr(p.typ, "max_fill", ErrOutOfRange, "%d exceeds the quantity %d", b.MaxFill, b.Quantity)
	}
	if b.MaxFill > 0 && b.MaxFill < b.MinFill {
		return Bid{}, perr(p.typ, "max_fill", ErrOutOfRange, "%d is below min_fill %d", b.MaxFill, b.MinFill)
	}
	if b.MaxFill > 0 && b.Offer != "" {
		return Bid{}, perr(p.typ, "max_fill", ErrBadValue, "only an open bid caps its fills; a bid on an offer is one fill")
	}
	if b.Resource == Storage && b.Duration == 0 {
		return Bid{}, perr(p.typ, "duration", ErrMissingTag, "a storage bid says how long to keep the data")
	}
	if b.Model != "" && b.Resource != Inference {
		return Bid{}, perr(p.typ, "model", ErrBadValue, "only an inference bid names a model")
	}
	if len(b.Payments) == 0 {
		return Bid{}, perr(p.typ, "payment", ErrMissingTag, "at least one payment method")
	}
	if _, err := b.MaxTotal(); err != nil {
		if errors.Is(err, ErrOverflow) {
			return Bid{}, perr(p.typ, "quantity", ErrOverflow, "quantity x max_price exceeds 21M BTC")
		}
		return Bid{}, p.wrap("quantity", err)
	}
	return b, nil
}
