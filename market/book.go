package market

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// Errors of the order book; compare with errors.Is.
var (
	// ErrWrongResource means an order was given to the book of another resource.
	ErrWrongResource = errors.New("order is for another resource")
	// ErrExpired means the order's expiration has passed.
	ErrExpired = errors.New("order has expired")
	// ErrStale means a newer version of the offer (or its deletion) is known.
	ErrStale = errors.New("a newer version of the offer is known")
	// ErrDuplicate means the bid is already in the book (or was filled).
	ErrDuplicate = errors.New("bid already known")
	// ErrCancelled means the order was cancelled by a NIP-09 deletion.
	ErrCancelled = errors.New("order was cancelled")
	// ErrTargetedBid means the bid names an offer: its provider answers it,
	// not the matching engine.
	ErrTargetedBid = errors.New("bid names an offer; its provider answers it")
)

// TrustFunc returns the trust rank (0-100) of a key, as Scores.Rank does.
// The order book calls it while matching, under the Exchange's lock: it must
// be fast and must not call back into the Exchange.
type TrustFunc func(pubkey string) int

// Config configures a Book or an Exchange.
type Config struct {
	// ProposalTTL is how long the offer's provider has to confirm a
	// proposal before it lapses and the bid and the capacity return to the
	// book. Default 1 minute; at most nips.MaxProposalTTL seconds.
	ProposalTTL time.Duration
	// Trust ranks providers for bids' min_trust. Nil ranks everyone 0, so
	// only bids with min_trust 0 match.
	Trust TrustFunc
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{ProposalTTL: time.Minute} }

// Validate checks c.
func (c Config) Validate() error {
	if c.ProposalTTL < time.Second || c.ProposalTTL > nips.MaxProposalTTL*time.Second {
		return fmt.Errorf("market: ProposalTTL %s must be in [1s, %ds]", c.ProposalTTL, nips.MaxProposalTTL)
	}
	return nil
}

// Fill is one proposal made by the book: a quantity of one bid proposed
// from one offer, at the offer's prices, never over the bid's max_fill. It stays out of the bid and the
// offer's capacity until the provider refuses it or it lapses (then both
// return to the book), or the provider confirms it with its match.
type Fill struct {
	BidID    string
	Buyer    string
	Offer    string // the offer's address
	OfferID  string // the offer event's id
	Provider string
	Resource nips.Resource
	Prices   nips.Prices
	Quantity uint64
	Duration uint64 // seconds, from the bid
	Amount   uint64 // millisats, nips.Cost
	Payment  nips.Payment
	Session  string
	Expires  time.Time // when the proposal lapses unconfirmed
}

// Proposal returns the fill as a nips.Proposal. The relay signs
// Proposal().ToEvent(now) with its key and publishes it.
func (f Fill) Proposal() nips.Proposal {
	return nips.Proposal{Match: nips.Match{
		Bid: f.BidID, Offer: f.Offer, Buyer: f.Buyer, Provider: f.Provider,
		Resource: f.Resource, Prices: f.Prices, Quantity: f.Quantity, Duration: f.Duration,
		Amount: f.Amount, Session: f.Session, Payment: f.Payment,
		Expiration: nostr.Timestamp(f.Expires.Unix()),
	}}
}

type offerEntry struct {
	o        nips.Offer
	addr     string // o.Address(), computed once
	capacity uint64 // left in the book: neither proposed nor confirmed
	sumPrice uint64
	closed   bool // replaced, cancelled or expired: capacity that returns is not booked again
}

type bidEntry struct {
	b         nips.Bid
	remaining uint64 // neither proposed nor confirmed
	filled    uint64 // proposed in all, including proposals that lapsed: names sessions
	sumMax    uint64
	pending   int             // proposals awaiting their provider
	proposed  uint64          // proposals made in all (BidEnd.Proposals)
	tried     map[string]bool // offer addresses proposed this bid already: a provider confirms one fill of a bid
	closed    bool            // cancelled or expired: what returns is not booked again
}

// Book is the order book of one resource class. It is single-owner: use it
// from one goroutine, or through an Exchange.
//
// Offers are kept in price-time priority: the sum of their price components
// ascending (for inference, input + output per 1M tokens), then created_at,
// then event id. Resting bids are kept by the sum of their price ceilings
// descending, then created_at, then event id.
type Book struct {
	resource nips.Resource
	cfg      Config

	offers []*offerEntry // sorted, see offerLess
	byAddr map[string]*offerEntry
	bids   []*bidEntry // sorted, see bidLess
	byID   map[string]*bidEntry

	// latest is the created_at of the newest offer version or deletion per
	// address, so replays of older versions are refused.
	latest map[string]nostr.Timestamp
	// gone holds ids of bids filled, cancelled or expired, with the time
	// they may be forgotten (their expiration).
	gone map[string]nostr.Timestamp

	// proposals are the fills awaiting their provider, by session.
	proposals map[string]*proposal
	// settled holds sessions confirmed or lapsed, until they may be
	// forgotten, so a repeated match or refusal changes nothing.
	settled map[string]nostr.Timestamp
	// elsewhere is the quantity of bids not (yet) in the book that their
	// providers confirmed through another relay, with when it may be
	// forgotten.
	elsewhere map[string]elsewhereFill
	// confirmed holds the confirmations that took capacity out of an
	// offer in the book, by session, until their match lapses: a buyer's
	// decline returns the capacity (see Decline).
	confirmed map[string]confirmation
	// ended are the bids that reached "nothing more to propose" since the
	// last TakeEnded.
	ended []BidEnd
}

// BidEnd is an open bid the book has nothing more to propose for, as of
// now: no proposal of it awaits its provider and no offer in the book can
// fill what is left (or nothing is left). The relay publishes it as a
// nips.ProposalsEnd.
type BidEnd struct {
	BidID     string
	Buyer     string
	Proposals uint64 // proposals of the bid the book made in all
	Expires   nostr.Timestamp
}

// ProposalsEnd returns the end as a nips.ProposalsEnd expiring at the
// bid's expiration, at most nips.MaxProposalTTL after now.
func (e BidEnd) ProposalsEnd(now time.Time) nips.ProposalsEnd {
	return nips.ProposalsEnd{Bid: e.BidID, Buyer: e.Buyer, Proposals: e.Proposals,
		Expiration: max(min(e.Expires, ts(now)+nips.MaxProposalTTL), ts(now)+1)}
}

// TakeEnded returns the bids that ended (see BidEnd) since the last call,
// and forgets them: one end per bid, the last, and none for a bid that has
// a proposal pending again (a later offer was proposed it).
func (b *Book) TakeEnded() []BidEnd {
	last := make(map[string]int, len(b.ended))
	for i, e := range b.ended {
		last[e.BidID] = i
	}
	var out []BidEnd
	for i, e := range b.ended {
		if last[e.BidID] != i {
			continue
		}
		if be, ok := b.byID[e.BidID]; ok && be.pending > 0 {
			continue
		}
		out = append(out, e)
	}
	b.ended = nil
	return out
}

// checkEnded records be as ended if it has no proposal pending and was
// not cancelled: the last matchBid found nothing more to fill.
func (b *Book) checkEnded(be *bidEntry) {
	if be.pending > 0 || be.closed {
		return
	}
	b.ended = append(b.ended, BidEnd{BidID: be.b.EventID, Buyer: be.b.Pubkey, Proposals: be.proposed, Expires: be.b.Expiration})
}

// NewBook returns an empty book for resource r.
func NewBook(r nips.Resource, cfg Config) (*Book, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("market: unknown resource %q", r)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Book{
		resource: r, cfg: cfg,
		byAddr: make(map[string]*offerEntry), byID: make(map[string]*bidEntry),
		latest: make(map[string]nostr.Timestamp), gone: make(map[string]nostr.Timestamp),
		proposals: make(map[string]*proposal), settled: make(map[string]nostr.Timestamp),
		elsewhere: make(map[string]elsewhereFill), confirmed: make(map[string]confirmation),
	}, nil
}

func offerLess(x, y *offerEntry) int {
	return cmp.Or(
		cmp.Compare(x.sumPrice, y.sumPrice),
		cmp.Compare(x.o.CreatedAt, y.o.CreatedAt),
		cmp.Compare(x.o.EventID, y.o.EventID),
	)
}

func bidLess(x, y *bidEntry) int {
	return cmp.Or(
		cmp.Compare(y.sumMax, x.sumMax),
		cmp.Compare(x.b.CreatedAt, y.b.CreatedAt),
		cmp.Compare(x.b.EventID, y.b.EventID),
	)
}

func ts(t time.Time) nostr.Timestamp { return nostr.Timestamp(t.Unix()) }

// AddOffer puts a parsed offer in the book, replacing an older version of
// the same address, and fills resting bids from it in bid priority. It
// returns the fills made.
func (b *Book) AddOffer(o nips.Offer, now time.Time) ([]Fill, error) {
	if o.Resource != b.resource {
		return nil, fmt.Errorf("market: offer %s: %w", o.ID, ErrWrongResource)
	}
	if o.Expiration <= ts(now) {
		return nil, fmt.Errorf("market: offer %s: %w", o.ID, ErrExpired)
	}
	addr := o.Address()
	if last, ok := b.latest[addr]; ok {
		// NIP-01: the newest version wins; on equal created_at, the lowest id.
		old := b.byAddr[addr]
		if o.CreatedAt < last || (o.CreatedAt == last && (old == nil || o.EventID >= old.o.EventID)) {
			return nil, fmt.Errorf("market: offer %s: %w", addr, ErrStale)
		}
	}
	if old := b.byAddr[addr]; old != nil {
		b.removeOffer(old)
		old.closed = true
	}
	e := &offerEntry{o: o, addr: addr, capacity: o.Capacity, sumPrice: o.Prices.Sum()}
	b.latest[addr] = o.CreatedAt
	b.byAddr[addr] = e
	i, _ := slices.BinarySearchFunc(b.offers, e, offerLess)
	b.offers = slices.Insert(b.offers, i, e)

	return b.matchOffer(e, now), nil
}

// matchOffer proposes fills of the resting bids from offer e, in bid
// priority, and takes e out of the book when what is left of its capacity
// is under its minimum quantity.
func (b *Book) matchOffer(e *offerEntry, now time.Time) []Fill {
	var fills []Fill
	for i := 0; i < len(b.bids) && e.capacity >= e.o.MinQuantity; {
		be := b.bids[i]
		f, ok := b.fill(be, e, now)
		if !ok {
			i++
			continue
		}
		fills = append(fills, f)
		if b.bidDone(be) {
			b.bids = slices.Delete(b.bids, i, i+1)
			delete(b.byID, be.b.EventID)
			continue
		}
		i++
	}
	if e.capacity < e.o.MinQuantity {
		b.removeOffer(e)
	}
	return fills
}

// AddBid fills an open bid from the offers in price-time priority and
// rests what is left in the book until it expires or is cancelled. It
// returns the fills made.
func (b *Book) AddBid(bid nips.Bid, now time.Time) ([]Fill, error) {
	if bid.Resource != b.resource {
		return nil, fmt.Errorf("market: bid %s: %w", bid.EventID, ErrWrongResource)
	}
	if bid.Offer != "" {
		return nil, fmt.Errorf("market: bid %s: %w", bid.EventID, ErrTargetedBid)
	}
	if bid.Expiration <= ts(now) {
		return nil, fmt.Errorf("market: bid %s: %w", bid.EventID, ErrExpired)
	}
	if _, ok := b.byID[bid.EventID]; ok {
		return nil, fmt.Errorf("market: bid %s: %w", bid.EventID, ErrDuplicate)
	}
	if _, ok := b.gone[bid.EventID]; ok {
		return nil, fmt.Errorf("market: bid %s: %w", bid.EventID, ErrDuplicate)
	}
	b.gone[bid.EventID] = bid.Expiration // known from now on, in the book or not
	be := &bidEntry{b: bid, remaining: bid.Quantity, sumMax: bid.MaxPrices.Sum()}
	if e, ok := b.elsewhere[bid.EventID]; ok {
		be.remaining -= min(e.quantity, be.remaining)
		delete(b.elsewhere, bid.EventID)
	}
	return b.matchBid(be, now), nil
}

// matchBid proposes fills of be from the offers in price-time priority,
// skipping the offers whose provider already refused it, and rests what is
// left in the book.
func (b *Book) matchBid(be *bidEntry, now time.Time) []Fill {
	var fills []Fill
	for i := 0; i < len(b.offers) && !b.bidDone(be); {
		oe := b.offers[i]
		if oe.sumPrice > be.sumMax {
			break // every later offer costs more than the bid allows in all
		}
		f, ok := b.fill(be, oe, now)
		if !ok {
			i++
			continue
		}
		fills = append(fills, f)
		if oe.capacity < oe.o.MinQuantity {
			b.offers = slices.Delete(b.offers, i, i+1)
			delete(b.byAddr, oe.addr)
			continue
		}
		i++
	}
	if b.bidDone(be) {
		b.removeBid(be)
	} else {
		b.rest(be)
	}
	b.checkEnded(be)
	return fills
}

// rest puts be among the resting bids, once.
func (b *Book) rest(be *bidEntry) {
	if _, ok := b.byID[be.b.EventID]; ok {
		return
	}
	b.byID[be.b.EventID] = be
	i, _ := slices.BinarySearchFunc(b.bids, be, bidLess)
	b.bids = slices.Insert(b.bids, i, be)
}

// bidDone reports whether nothing more of the bid can be filled.
func (b *Book) bidDone(be *bidEntry) bool {
	return be.remaining == 0 || be.remaining < be.b.MinFill
}

// fill matches bid be against offer oe if every rule allows, and books it.
func (b *Book) fill(be *bidEntry, oe *offerEntry, now time.Time) (Fill, bool) {
	bid, o := &be.b, &oe.o
	if be.tried[oe.addr] {
		return Fill{}, false // proposed already: its provider confirms one fill of a bid
	}
	q, pay, ok := b.eligible(bid, o, be.remaining, oe.capacity, now)
	if !ok {
		return Fill{}, false
	}
	amount, err := nips.Cost(b.resource, o.Prices, q, bid.Duration)
	if err != nil {
		return Fill{}, false // cannot happen for parsed bids: quantity x ceiling is bounded
	}
	addr := oe.addr
	f := Fill{
		BidID: bid.EventID, Buyer: bid.Pubkey,
		Offer: addr, OfferID: o.EventID, Provider: o.Pubkey,
		Resource: b.resource, Prices: o.Prices, Quantity: q, Duration: bid.Duration,
		Amount: amount, Payment: pay,
		Session: nips.SessionID(bid.EventID, addr, be.filled),
		Expires: now.Add(b.cfg.ProposalTTL),
	}
	if be.tried == nil {
		be.tried = make(map[string]bool)
	}
	be.tried[addr] = true
	be.remaining -= q
	be.filled += q
	be.pending++
	be.proposed++
	oe.capacity -= q
	b.proposals[f.Session] = &proposal{f: f, be: be, oe: oe}
	return f, true
}

// eligible applies the matching rules to one bid and one offer and returns
// the quantity to fill and the payment method to use.
func (b *Book) eligible(bid *nips.Bid, o *nips.Offer, remaining, capacity uint64, now time.Time) (uint64, nips.Payment, bool) {
	t := ts(now)
	switch {
	case o.Pubkey == bid.Pubkey: // no self-trade
		return 0, nips.Payment{}, false
	case o.Expiration <= t || bid.Expiration <= t:
		return 0, nips.Payment{}, false
	case !o.Prices.Within(bid.MaxPrices):
		return 0, nips.Payment{}, false
	case len(bid.Regions) > 0 && !inRegion(o.Geohash, bid.Regions):
		return 0, nips.Payment{}, false
	case b.resource == nips.Storage && bid.Duration > o.Retention:
		return 0, nips.Payment{}, false
	case bid.Model != "" && !slices.Contains(o.Models, bid.Model):
		return 0, nips.Payment{}, false
	}
	pay, ok := nips.CommonPayment(bid.Payments, o.Payments)
	if !ok {
		return 0, nips.Payment{}, false
	}
	q := min(remaining, o.MaxQuantity, capacity, bid.FillCap())
	if q == 0 || q < o.MinQuantity || q < bid.MinFill {
		return 0, nips.Payment{}, false
	}
	if bid.MinTrust > 0 {
		if b.cfg.Trust == nil || uint64(max(b.cfg.Trust(o.Pubkey), 0)) < bid.MinTrust {
			return 0, nips.Payment{}, false
		}
	}
	return q, pay, true
}

func inRegion(geohash string, prefixes []string) bool {
	for _, p := range prefixes {
		if len(geohash) >= len(p) && geohash[:len(p)] == p {
			return true
		}
	}
	return false
}

func (b *Book) removeOffer(e *offerEntry) {
	if i, ok := slices.BinarySearchFunc(b.offers, e, offerLess); ok {
		b.offers = slices.Delete(b.offers, i, i+1)
	}
	if b.byAddr[e.addr] == e {
		delete(b.byAddr, e.addr)
	}
}

func (b *Book) removeBid(e *bidEntry) {
	if i, ok := slices.BinarySearchFunc(b.bids, e, bidLess); ok {
		b.bids = slices.Delete(b.bids, i, i+1)
	}
	delete(b.byID, e.b.EventID)
}

// Cancel applies a NIP-09 deletion: it removes the author's bids and offers
// named by id, and the author's offers named by address whose version is
// not newer than the deletion (and refuses such versions later). It returns
// how many orders it removed.
func (b *Book) Cancel(d nips.Deletion) int {
	n := 0
	for _, id := range d.IDs {
		if e, ok := b.byID[id]; ok && e.b.Pubkey == d.Pubkey {
			b.removeBid(e)
			e.closed = true
			n++
			continue
		}
		if b.closeProposed(id, d.Pubkey) {
			continue
		}
		for _, oe := range b.byAddr {
			if oe.o.EventID == id && oe.o.Pubkey == d.Pubkey {
				b.removeOffer(oe)
				oe.closed = true
				n++
				break
			}
		}
	}
	for _, addr := range d.Addresses {
		pk, _, err := nips.ParseOfferAddress(addr)
		if err != nil || pk != d.Pubkey {
			continue
		}
		if oe, ok := b.byAddr[addr]; ok && oe.o.CreatedAt <= d.CreatedAt {
			b.removeOffer(oe)
			oe.closed = true
			n++
		}
		if d.CreatedAt > b.latest[addr] {
			b.latest[addr] = d.CreatedAt
		}
	}
	return n
}

// Expire removes the offers and bids whose expiration has passed, and
// forgets bookkeeping older than the longest order lifetime. It returns how
// many orders it removed.
func (b *Book) Expire(now time.Time) int {
	t := ts(now)
	n := 0
	b.offers = slices.DeleteFunc(b.offers, func(e *offerEntry) bool {
		if e.o.Expiration <= t {
			delete(b.byAddr, e.addr)
			e.closed = true
			n++
			return true
		}
		return false
	})
	b.bids = slices.DeleteFunc(b.bids, func(e *bidEntry) bool {
		if e.b.Expiration <= t {
			delete(b.byID, e.b.EventID)
			e.closed = true
			n++
			return true
		}
		return false
	})
	for id, exp := range b.gone {
		if exp <= t {
			delete(b.gone, id) // an expired bid is refused by its expiration anyway
		}
	}
	for s, exp := range b.settled {
		if exp <= t {
			delete(b.settled, s)
		}
	}
	for id, e := range b.elsewhere {
		if e.until <= t {
			delete(b.elsewhere, id)
		}
	}
	for s, c := range b.confirmed {
		if c.until <= t {
			delete(b.confirmed, s)
		}
	}
	for addr, last := range b.latest {
		if _, live := b.byAddr[addr]; !live && last+nips.MaxOfferTTL <= t {
			delete(b.latest, addr) // any version older than last has expired too
		}
	}
	return n
}
