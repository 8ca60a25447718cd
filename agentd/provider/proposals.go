package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/nips"
)

// ErrCapacity means a proposal asks for more than the offer has left.
var ErrCapacity = errors.New("provider: not enough capacity left")

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
		r := nips.Refusal{Proposal: ev.ID, Bid: prop.Bid, To: ev.PubKey, Session: prop.Session,
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
// refuses a second proposal for a bid it confirmed (ErrBidRefused), a
// proposal outside the bid's min_fill..max_fill (ErrBidRefused) and a
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
	if prop.Quantity > bid.FillCap() || prop.Quantity < bid.MinFill {
		return nips.Match{}, fmt.Errorf("%w: quantity %d outside the bid's fills of %d-%d", ErrBidRefused, prop.Quantity, bid.MinFill, bid.FillCap())
	}
	o, ok := p.Offer(bid.Resource)
	if !ok || prop.Offer != o.Address() {
		return nips.Match{}, ErrNotOurOffer
	}
	q := min(prop.Quantity, o.MaxQuantity)
	if q < bid.MinFill {
		return nips.Match{}, fmt.Errorf("%w: we sell at most %d, the bid's fills take at least %d", ErrBidRefused, q, bid.MinFill)
	}
	// The reservation is the session's first record: answer fills in its
	// match. When answer refuses the bid the reservation is given up; when
	// publishing fails it lapses unpaid after the payment window (the match
	// may have reached a relay), as does a confirmation the buyer neither
	// pays nor declines.
	p.confirmMu.Lock()
	defer p.confirmMu.Unlock()
	if _, err := p.db.GetSession(ctx, prop.Session); err == nil {
		return nips.Match{}, errAnswered // another relay proposed this very session
	}
	lapsed, err := p.db.Reserve(ctx, state.Reservation{
		Session: state.Session{ID: prop.Session, Role: state.RoleProvider, Resource: bid.Resource, Counterparty: bid.Pubkey,
			Offer: o.Address(), Quantity: q, Duration: bid.Duration},
		Bid: bid.EventID, Capacity: o.Capacity, Lapse: p.node.Now().Add(-p.cfg.PaymentWindow),
	})
	switch {
	case errors.Is(err, state.ErrBidTaken):
		return nips.Match{}, fmt.Errorf("%w: %v", ErrBidRefused, err)
	case errors.Is(err, state.ErrOverCapacity):
		return nips.Match{}, fmt.Errorf("%w: %v", ErrCapacity, err)
	case err != nil:
		return nips.Match{}, err
	}
	m, err := p.answer(ctx, bid, o.Address(), prop.Session, q)
	if errors.Is(err, ErrBidRefused) || errors.Is(err, ErrNotOurOffer) {
		if ferr := p.db.Unreserve(context.WithoutCancel(ctx), prop.Session); ferr != nil {
			p.log.Warn("reservation not given up", "session", prop.Session, "err", ferr)
		}
	}
	p.release(ctx, lapsed)
	return m, err
}

// lapseLoop ends the confirmations left unpaid past the payment window
// every LapseInterval (on the node's clock) and releases their matches, so
// that the relays' books put the capacity back on sale at once rather than
// when the capacity is next asked for. It runs until ctx ends.
func (p *Provider) lapseLoop(ctx context.Context) {
	every(ctx, p.cfg.LapseInterval, func() {
		lapsed, err := p.db.Lapse(ctx, p.node.Now().Add(-p.cfg.PaymentWindow))
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("unpaid confirmations not lapsed", "err", err)
			}
			return
		}
		p.release(ctx, lapsed)
	})
}

// release publishes a release (kind 8469, e release) of each match of a
// confirmation that lapsed unpaid: the relays whose books hold the match
// return its quantity to our offer. A reservation whose match was never
// published has nothing to release.
func (p *Provider) release(ctx context.Context, lapsed []state.Lapsed) {
	for _, l := range lapsed {
		if l.Match == "" {
			continue
		}
		now := nostr.Timestamp(p.node.Now().Unix())
		r := nips.Refusal{Release: l.Match, Bid: l.Bid, To: l.Buyer, Session: l.Session,
			Reason: "payment window passed", Expiration: now + nips.MaxMatchTTL}
		if _, err := p.node.Publish(context.WithoutCancel(ctx), r.ToEvent(now)); err != nil {
			p.log.Warn("release not published", "session", l.Session, "err", err)
			continue
		}
		p.log.Info("unpaid confirmation lapsed, match released", "session", l.Session, "bid", l.Bid, "buyer", l.Buyer)
	}
}

// refusalReason is what a refusal tells people: the error, bounded.
func refusalReason(err error) string {
	s := err.Error()
	if len(s) > nips.MaxTextLen {
		s = strings.ToValidUTF8(s[:nips.MaxTextLen], "")
	}
	return s
}

// applyDecline releases the capacity of a confirmation its buyer declined
// (kind 8469 with an e match, to us): the decline must be signed by the
// bid's buyer and name our unpaid match of that session and bid (state.DB
// Decline checks the stored session); anything else changes nothing.
func (p *Provider) applyDecline(ctx context.Context, ev *nostr.Event) {
	if ok, _ := ev.CheckSignature(); !ok {
		return
	}
	r, err := nips.ParseRefusal(ev)
	if err != nil || !r.IsDecline() || r.To != p.pubkey {
		return // a refusal of some relay's proposal, or not for us
	}
	if err := p.db.Decline(ctx, r.Session, ev.PubKey, r.Bid, r.Match); err != nil {
		p.log.Debug("decline ignored", "id", ev.ID, "session", r.Session, "err", err)
		return
	}
	p.log.Info("match declined, capacity released", "session", r.Session, "bid", r.Bid, "buyer", ev.PubKey)
}
