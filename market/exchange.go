package market

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// Exchange holds one Book per resource class behind a mutex: it is safe for
// concurrent use, and is what a relay feeds with the market events it
// accepts.
type Exchange struct {
	mu    sync.Mutex
	books map[nips.Resource]*Book
	cfg   Config
}

// NewExchange returns an exchange with an empty book per resource.
func NewExchange(cfg Config) (*Exchange, error) {
	x := &Exchange{books: make(map[nips.Resource]*Book), cfg: cfg}
	for _, r := range nips.Resources {
		b, err := NewBook(r, cfg)
		if err != nil {
			return nil, err
		}
		x.books[r] = b
	}
	return x, nil
}

// Reset empties every book, as NewExchange made them. A relay that takes
// over the matching engine from another process rebuilds its books from
// the event store after it.
func (x *Exchange) Reset() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	books := make(map[nips.Resource]*Book, len(x.books))
	for _, r := range nips.Resources {
		b, err := NewBook(r, x.cfg)
		if err != nil {
			return err
		}
		books[r] = b
	}
	x.books = books
	return nil
}

// Apply feeds one accepted event to the exchange: an offer or an open bid
// is added (and matched), a NIP-09 deletion cancels orders, a provider's
// match confirms a proposal (see Book.Confirm). Other kinds, bids on a
// named offer (their provider answers them) and replays of known or
// outdated orders are ignored and return no error. A malformed market event
// returns its parse error. The fills returned are to be published as
// proposals signed by the relay (Fill.Proposal).
func (x *Exchange) Apply(evt *nostr.Event, now time.Time) ([]Fill, error) {
	switch evt.Kind {
	case nips.KindOffer:
		o, err := nips.ParseOffer(evt)
		if err != nil {
			return nil, err
		}
		return ignoreBenign(x.AddOffer(o, now))
	case nips.KindBid:
		b, err := nips.ParseBid(evt)
		if err != nil {
			return nil, err
		}
		return ignoreBenign(x.AddBid(b, now))
	case nips.KindMatch:
		m, err := nips.ParseMatch(evt)
		if err != nil {
			return nil, err
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		b, err := x.book(m.Resource)
		if err != nil {
			return nil, err
		}
		return b.Confirm(m, now), nil
	case nips.KindDeletion:
		d, err := nips.ParseDeletion(evt)
		if err != nil {
			return nil, err
		}
		x.Cancel(d)
	}
	return nil, nil
}

func ignoreBenign(f []Fill, err error) ([]Fill, error) {
	for _, benign := range []error{ErrTargetedBid, ErrStale, ErrDuplicate, ErrExpired} {
		if errors.Is(err, benign) {
			return nil, nil
		}
	}
	return f, err
}

func (x *Exchange) book(r nips.Resource) (*Book, error) {
	b, ok := x.books[r]
	if !ok {
		return nil, fmt.Errorf("market: unknown resource %q", r)
	}
	return b, nil
}

// AddOffer adds an offer to its resource's book; see Book.AddOffer.
func (x *Exchange) AddOffer(o nips.Offer, now time.Time) ([]Fill, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	b, err := x.book(o.Resource)
	if err != nil {
		return nil, err
	}
	return b.AddOffer(o, now)
}

// AddBid adds an open bid to its resource's book; see Book.AddBid.
func (x *Exchange) AddBid(bid nips.Bid, now time.Time) ([]Fill, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	b, err := x.book(bid.Resource)
	if err != nil {
		return nil, err
	}
	return b.AddBid(bid, now)
}

// Cancel applies a deletion to every book and returns the orders removed.
func (x *Exchange) Cancel(d nips.Deletion) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, r := range nips.Resources {
		n += x.books[r].Cancel(d)
	}
	return n
}

// Refuse applies a provider's refusal of a proposal; see Book.Refuse. The
// caller checks the refusal names a proposal of its own (its p tag).
func (x *Exchange) Refuse(r nips.Refusal, now time.Time) []Fill {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, res := range nips.Resources {
		if f, ok := x.books[res].Refuse(r.Session, r.Pubkey, now); ok {
			return f
		}
	}
	return nil
}

// Decline applies a buyer's decline of a provider's match, or a
// provider's release of its lapsed match; see Book.Decline.
func (x *Exchange) Decline(d nips.Refusal, now time.Time) []Fill {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, res := range nips.Resources {
		if f, ok := x.books[res].Decline(d, now); ok {
			return f
		}
	}
	return nil
}

// Lapse treats the proposals past their expiration as refused in every
// book; see Book.Lapse. Call it periodically, with Expire.
func (x *Exchange) Lapse(now time.Time) []Fill {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []Fill
	for _, r := range nips.Resources {
		out = append(out, x.books[r].Lapse(now)...)
	}
	return out
}

// TakeEnded returns the open bids every book has nothing more to propose
// for since the last call (see Book.TakeEnded), and forgets them.
func (x *Exchange) TakeEnded() []BidEnd {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []BidEnd
	for _, b := range x.books {
		out = append(out, b.TakeEnded()...)
	}
	return out
}

// Pending returns the proposals awaiting their providers, in every book.
func (x *Exchange) Pending() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, r := range nips.Resources {
		n += x.books[r].Pending()
	}
	return n
}

// Expire removes expired orders from every book; call it periodically
// (every few seconds). It returns the orders removed.
func (x *Exchange) Expire(now time.Time) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, r := range nips.Resources {
		n += x.books[r].Expire(now)
	}
	return n
}

// View returns the sorted order-book view of one resource; see Book.View.
func (x *Exchange) View(r nips.Resource, q ViewQuery) (BookView, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	b, err := x.book(r)
	if err != nil {
		return BookView{}, err
	}
	return b.View(q), nil
}
