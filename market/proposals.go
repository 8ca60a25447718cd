package market

import (
	"cmp"
	"slices"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// proposal is a fill awaiting its provider's match or refusal.
type proposal struct {
	f  Fill
	be *bidEntry
	oe *offerEntry
}

// confirmation is a provider's match that took quantity out of offer oe:
// the bid's buyer may decline it (nips.Refusal with a Match) until until.
type confirmation struct {
	oe       *offerEntry
	quantity uint64
	match    string
	bid      string
	buyer    string
	until    nostr.Timestamp
}

// elsewhereFill is what providers confirmed of a bid the book has not seen.
type elsewhereFill struct {
	quantity uint64
	until    nostr.Timestamp
}

// Pending returns the number of proposals awaiting their provider.
func (b *Book) Pending() int { return len(b.proposals) }

// Confirm applies a provider's match. For one of the book's proposals
// (same session, bid, offer and provider) the proposal becomes final: what
// it took stays out of the bid and the offer, except any quantity the
// provider did not confirm, which returns and is proposed to other offers. For a bid
// in the book that no proposal of ours names, from the provider of an offer
// in the book at prices within the bid's ceiling, the provider sold it
// through another relay: the quantity leaves the bid and the offer. It
// returns the new proposals made.
func (b *Book) Confirm(m nips.Match, now time.Time) []Fill {
	if m.Pubkey != m.Provider {
		return nil // only the provider confirms
	}
	if _, done := b.settled[m.Session]; done {
		return nil
	}
	settle := max(m.Expiration, ts(now)) + nips.MaxProposalTTL
	if p, ok := b.proposals[m.Session]; ok {
		f := p.f
		if f.BidID != m.Bid || f.Offer != m.Offer || f.Provider != m.Provider || f.Buyer != m.Buyer {
			return nil
		}
		delete(b.proposals, m.Session)
		b.settled[m.Session] = settle
		b.confirm(m, p.oe, min(m.Quantity, f.Quantity))
		p.be.pending--
		if m.Quantity >= f.Quantity {
			b.checkEnded(p.be) // its last proposal answered: nothing more to propose
			return nil
		}
		// The provider gives this bid no more: the rest goes elsewhere.
		return b.release(p, f.Quantity-m.Quantity, now)
	}
	// A match no proposal of ours names counts only for an offer in the
	// book: a key with no offer cannot take quantity out of others' bids.
	oe, offered := b.byAddr[m.Offer]
	if !offered || oe.o.Pubkey != m.Pubkey {
		return nil
	}
	be, ok := b.byID[m.Bid]
	if ok && !oe.o.Prices.Within(be.b.MaxPrices) {
		return nil // not a fill this bid allows
	}
	b.settled[m.Session] = settle
	b.confirm(m, oe, min(m.Quantity, oe.capacity))
	oe.capacity -= min(m.Quantity, oe.capacity)
	if oe.capacity < oe.o.MinQuantity {
		b.removeOffer(oe)
	}
	if !ok {
		if _, seen := b.gone[m.Bid]; !seen {
			e := b.elsewhere[m.Bid]
			b.elsewhere[m.Bid] = elsewhereFill{quantity: e.quantity + m.Quantity, until: m.CreatedAt + nips.MaxBidTTL}
		}
		return nil
	}
	be.remaining -= min(m.Quantity, be.remaining)
	if b.bidDone(be) {
		b.removeBid(be)
	}
	return nil
}

// Refuse applies the refusal of the proposal of session by provider: the
// bid and the offer's capacity return to the book, and the bid is
// proposed to the next offers (not to this one again). It returns the new
// proposals made, and whether session named a proposal of provider's.
func (b *Book) Refuse(session, provider string, now time.Time) ([]Fill, bool) {
	p, ok := b.proposals[session]
	if !ok || p.f.Provider != provider {
		return nil, false
	}
	delete(b.proposals, session)
	b.settled[session] = ts(now) + nips.MaxProposalTTL
	p.be.pending--
	return b.release(p, p.f.Quantity, now), true
}

// Lapse treats the proposals whose expiration has passed as refused. It
// returns the new proposals made.
func (b *Book) Lapse(now time.Time) []Fill {
	var lapsed []*proposal
	for _, p := range b.proposals {
		if !p.f.Expires.After(now) {
			lapsed = append(lapsed, p)
		}
	}
	// In the order they were made, so replicas lapse alike.
	slices.SortFunc(lapsed, func(x, y *proposal) int {
		return cmp.Or(x.f.Expires.Compare(y.f.Expires), cmp.Compare(x.f.Session, y.f.Session))
	})
	var out []Fill
	for _, p := range lapsed {
		f, _ := b.Refuse(p.f.Session, p.f.Provider, now)
		out = append(out, f...)
	}
	return out
}

// release returns q of proposal p to its bid and offer (the offer is not
// proposed this bid again: see bidEntry.tried). It proposes the bid anew
// unless it was cancelled or expired, and the offer to the resting bids.
func (b *Book) release(p *proposal, q uint64, now time.Time) []Fill {
	be, oe := p.be, p.oe
	offerBack := !oe.closed && oe.o.Expiration > ts(now)
	if offerBack {
		oe.capacity += q
		if b.byAddr[oe.addr] != oe && oe.capacity >= oe.o.MinQuantity {
			b.byAddr[oe.addr] = oe
			i, _ := slices.BinarySearchFunc(b.offers, oe, offerLess)
			b.offers = slices.Insert(b.offers, i, oe)
		}
	}
	var fills []Fill
	if !be.closed && be.b.Expiration > ts(now) {
		be.remaining += q
		fills = b.matchBid(be, now)
	}
	if offerBack && b.byAddr[oe.addr] == oe {
		fills = append(fills, b.matchOffer(oe, now)...)
	}
	return fills
}

// closeProposed applies the cancellation of a bid that is not resting
// because all of it is proposed: what its proposals return is not booked
// again. It reports whether id named such a bid of pubkey's.
func (b *Book) closeProposed(id, pubkey string) bool {
	for _, p := range b.proposals {
		if p.be.b.EventID == id && p.be.b.Pubkey == pubkey {
			p.be.closed = true
			return true
		}
	}
	return false
}

// confirm remembers that match m took q out of offer oe, until m lapses.
func (b *Book) confirm(m nips.Match, oe *offerEntry, q uint64) {
	if q > 0 && m.EventID != "" {
		b.confirmed[m.Session] = confirmation{oe: oe, quantity: q, match: m.EventID, bid: m.Bid, buyer: m.Buyer, until: m.Expiration}
	}
}

// Decline applies a buyer's decline of a provider's match (kind 8469 with
// an e match, signed by the bid's buyer) or the provider's release of its
// own match that lapsed unpaid (an e release, signed by the provider, p the
// buyer): the quantity the match took returns to its offer, unless the
// offer was replaced, cancelled or expired since, and the resting bids are
// matched against it. It must name a match the book counted, with its bid,
// buyer and provider, each signing its own form. It returns the new
// proposals made, and whether it applied.
func (b *Book) Decline(d nips.Refusal, now time.Time) ([]Fill, bool) {
	c, ok := b.confirmed[d.Session]
	if !ok || c.bid != d.Bid {
		return nil, false
	}
	switch {
	case d.IsDecline() && c.match == d.Match && c.buyer == d.Pubkey && c.oe.o.Pubkey == d.To:
	case d.IsRelease() && c.match == d.Release && c.oe.o.Pubkey == d.Pubkey && c.buyer == d.To:
	default:
		return nil, false
	}
	delete(b.confirmed, d.Session)
	oe := c.oe
	if oe.closed || oe.o.Expiration <= ts(now) {
		return nil, true
	}
	oe.capacity += c.quantity
	if b.byAddr[oe.addr] != oe && oe.capacity >= oe.o.MinQuantity {
		b.byAddr[oe.addr] = oe
		i, _ := slices.BinarySearchFunc(b.offers, oe, offerLess)
		b.offers = slices.Insert(b.offers, i, oe)
	}
	if b.byAddr[oe.addr] != oe {
		return nil, true
	}
	return b.matchOffer(oe, now), true
}
