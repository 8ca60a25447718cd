package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// ErrCapacity means a proposal asks for more than the offer has left.
var ErrCapacity = errors.New("provider: not enough capacity left")

// ledger is the provider's word on its capacity for open bids: the
// proposals it confirmed, by bid id (it confirms at most one per bid), and
// what each holds of its offer's capacity until the session lapses unpaid
// or ends.
type ledger struct {
	mu   sync.Mutex // held from the capacity check to the record: one confirmation at a time
	byID map[string]reservation
}

type reservation struct {
	session string
	offer   string
	qty     uint64
	until   time.Time // the match's expiration: unpaid after it, the capacity is free again
}

// held returns the capacity the live reservations hold of offer; it drops
// the reservations whose match lapsed unpaid or whose session ended.
func (p *Provider) held(ctx context.Context, offer string, now time.Time) uint64 {
	var n uint64
	for bid, r := range p.ledger.byID {
		if now.After(r.until) {
			s, err := p.db.GetSession(ctx, r.session)
			if err != nil || s.PaidMsat == 0 || s.State != "open" {
				delete(p.ledger.byID, bid)
				continue
			}
		}
		if r.offer == offer {
			n += r.qty
		}
	}
	return n
}

// answerProposal answers a relay's proposal of an open bid for our offer:
// the bid is fetched and checked by us (the relay is not trusted) against
// our remaining capacity, then confirmed with our match (the session's one
// match) or refused. A proposal for a bid we already confirmed is refused:
// several relays may propose one bid, we sell it once.
func (p *Provider) answerProposal(ctx context.Context, ev *nostr.Event) {
	if ev.PubKey == p.pubkey {
		return
	}
	if ok, _ := ev.CheckSignature(); !ok {
		return
	}
	prop, err := nips.ParseProposal(ev)
	if err != nil || prop.Provider != p.pubkey {
		return
	}
	if _, err := p.Confirm(ctx, prop); err != nil {
		p.log.Info("proposal refused", "proposal", ev.ID, "bid", prop.Bid, "relay", ev.PubKey, "err", err)
		if errors.Is(err, errAnswered) {
			return // our match of that very session answers it
		}
		r := nips.Refusal{Proposal: ev.ID, Bid: prop.Bid, Relay: ev.PubKey, Session: prop.Session,
			Reason: refusalReason(err), Expiration: nostr.Timestamp(time.Now().Add(nips.MaxProposalTTL * time.Second).Unix())}
		if _, err := p.node.Publish(ctx, r.ToEvent(nostr.Now())); err != nil {
			p.log.Warn("refusal not published", "proposal", ev.ID, "err", err)
		}
	}
}

// errAnswered means the proposal names the session we already confirmed.
var errAnswered = errors.New("provider: session already confirmed")

// Confirm checks a relay's proposal against the buyer's signed bid, our
// offer and our remaining capacity, and publishes our match for it. It
// refuses a second proposal for a bid it confirmed (ErrBidRefused) and a
// proposal over the capacity left (ErrCapacity).
func (p *Provider) Confirm(ctx context.Context, prop nips.Proposal) (nips.Match, error) {
	evs, err := p.relays.Query(ctx, nostr.Filter{IDs: []string{prop.Bid}, Kinds: []int{nips.KindBid}})
	if err != nil || len(evs) == 0 {
		return nips.Match{}, fmt.Errorf("%w: bid %s not found", ErrBidRefused, prop.Bid)
	}
	if ok, _ := evs[0].CheckSignature(); !ok {
		return nips.Match{}, fmt.Errorf("%w: bid signature", ErrBidRefused)
	}
	bid, err := nips.ParseBid(evs[0])
	if err != nil || bid.Offer != "" || bid.Pubkey != prop.Buyer || bid.Resource != prop.Resource {
		return nips.Match{}, fmt.Errorf("%w: the proposal does not name an open bid of its buyer", ErrBidRefused)
	}
	if prop.Quantity > bid.Quantity || prop.Quantity < bid.MinFill {
		return nips.Match{}, fmt.Errorf("%w: quantity %d outside the bid's %d-%d", ErrBidRefused, prop.Quantity, bid.MinFill, bid.Quantity)
	}
	p.ledger.mu.Lock()
	defer p.ledger.mu.Unlock()
	if p.ledger.byID == nil {
		p.ledger.byID = map[string]reservation{}
	}
	if r, ok := p.ledger.byID[bid.EventID]; ok {
		if r.session == prop.Session {
			return nips.Match{}, errAnswered
		}
		return nips.Match{}, fmt.Errorf("%w: bid already confirmed (session %s)", ErrBidRefused, r.session)
	}
	o, ok := p.Offer(bid.Resource)
	if !ok || prop.Offer != o.Address() {
		return nips.Match{}, ErrNotOurOffer
	}
	now := time.Now()
	held := p.held(ctx, o.Address(), now)
	q := min(prop.Quantity, o.MaxQuantity)
	if held+q > o.Capacity {
		return nips.Match{}, fmt.Errorf("%w: %d of %d held, %d asked", ErrCapacity, held, o.Capacity, q)
	}
	m, err := p.answer(ctx, bid, o.Address(), prop.Session, q)
	if err != nil {
		return nips.Match{}, err
	}
	p.ledger.byID[bid.EventID] = reservation{session: m.Session, offer: o.Address(), qty: m.Quantity, until: m.Expiration.Time()}
	return m, nil
}

// refusalReason is what a refusal tells people: the error, bounded.
func refusalReason(err error) string {
	s := err.Error()
	if len(s) > nips.MaxTextLen {
		s = strings.ToValidUTF8(s[:nips.MaxTextLen], "")
	}
	return s
}
