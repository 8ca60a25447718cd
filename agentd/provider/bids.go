package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/nips"
)

// Errors of bid answering.
var (
	ErrNotOurOffer = errors.New("provider: bid is not on one of our offers")
	ErrBidRefused  = errors.New("provider: bid refused")
)

func (p *Provider) answerBids(ctx context.Context, ready chan<- struct{}) {
	since := nostr.Timestamp(time.Now().Add(-10 * time.Minute).Unix())
	// Gift wraps carry a created_at up to 10 h in the past (NIP-59
	// randomization); old ones are refused as expired bids.
	wrapped := nostr.Timestamp(time.Now().Add(-11 * time.Hour).Unix())
	filters := nostr.Filters{
		{Kinds: []int{nips.KindBid}, Tags: nostr.TagMap{"p": {p.pubkey}}, Since: &since},
		{Kinds: []int{nips.KindGiftWrap}, Tags: nostr.TagMap{"p": {p.pubkey}}, Since: &wrapped},
		// Proposals the relays' engines made of open bids for our offers,
		// and buyers' declines of our confirmations (kind 8469 to us).
		{Kinds: []int{nips.KindProposal, nips.KindRefusal}, Tags: nostr.TagMap{"p": {p.pubkey}}, Since: &since},
	}
	p.relays.Subscribe(ctx, filters, func(ev *nostr.Event) {
		var bid nips.Bid
		var err error
		switch ev.Kind {
		case nips.KindBid:
			if ok, _ := ev.CheckSignature(); !ok {
				return
			}
			bid, err = nips.ParseBid(ev)
		case nips.KindProposal:
			p.answerProposal(ctx, ev)
			return
		case nips.KindRefusal:
			p.applyDecline(ctx, ev)
			return
		case nips.KindGiftWrap:
			k, kerr := p.signer()
			if kerr != nil {
				return
			}
			bid, err = nips.UnwrapBid(ctx, ev, k)
			if err != nil {
				return // other gift wraps (grants, shares) are not bids
			}
		}
		if err != nil {
			p.log.Debug("bid ignored", "id", ev.ID, "err", err)
			return
		}
		if _, err := p.Answer(ctx, bid); err != nil {
			p.log.Info("bid refused", "bid", bid.EventID, "buyer", bid.Pubkey, "err", err)
		}
	}, ready)
}

// Answer checks a bid on one of our offers and publishes our match, with
// a NUT-18 payment request for its amount. It returns the match.
func (p *Provider) Answer(ctx context.Context, bid nips.Bid) (nips.Match, error) {
	o, ok := p.Offer(bid.Resource)
	if !ok || bid.Offer != o.Address() {
		return nips.Match{}, ErrNotOurOffer
	}
	return p.answer(ctx, bid, o.Address(), nips.SessionID(bid.EventID, o.Address(), 0), bid.Quantity)
}

// answer matches bid against our offer at address offerAddr for quantity,
// naming the session.
func (p *Provider) answer(ctx context.Context, bid nips.Bid, offerAddr, session string, quantity uint64) (nips.Match, error) {
	o, ok := p.Offer(bid.Resource)
	if !ok || offerAddr != o.Address() {
		return nips.Match{}, ErrNotOurOffer
	}
	now := time.Now()
	if bid.Expiration != 0 && int64(bid.Expiration) < now.Unix() {
		return nips.Match{}, fmt.Errorf("%w: expired", ErrBidRefused)
	}
	if bid.Pubkey == p.pubkey {
		return nips.Match{}, fmt.Errorf("%w: our own bid", ErrBidRefused)
	}
	prices := p.prices(bid.Resource)
	if !prices.Within(bid.MaxPrices) {
		return nips.Match{}, fmt.Errorf("%w: our price is above the bid's ceiling", ErrBidRefused)
	}
	pay, ok := nips.CommonPayment(bid.Payments, p.payments())
	if !ok {
		return nips.Match{}, fmt.Errorf("%w: no common payment method", ErrBidRefused)
	}
	if quantity < o.MinQuantity {
		return nips.Match{}, fmt.Errorf("%w: quantity %d below the minimum %d", ErrBidRefused, quantity, o.MinQuantity)
	}
	q := min(quantity, o.MaxQuantity)
	if bid.Resource == nips.Storage && bid.Duration > o.Retention {
		return nips.Match{}, fmt.Errorf("%w: duration %d s over the retention %d s", ErrBidRefused, bid.Duration, o.Retention)
	}
	if s, err := p.db.GetSession(ctx, session); err == nil && s.MatchID != "" {
		return nips.Match{}, fmt.Errorf("%w: already answered (match %s)", ErrBidRefused, s.MatchID)
	}
	amount, err := nips.Cost(bid.Resource, prices, q, bid.Duration)
	if err != nil {
		return nips.Match{}, fmt.Errorf("%w: %v", ErrBidRefused, err)
	}
	req, err := creq.Request{ID: session[:16], Amount: metering.MsatToSats(amount), Unit: "sat", SingleUse: false,
		Mints: []string{pay.Mint}, Description: "sovmesh " + string(bid.Resource) + " session " + session[:16]}.Encode()
	if err != nil {
		return nips.Match{}, err
	}
	m := nips.Match{
		Bid: bid.EventID, Offer: o.Address(), Buyer: bid.Pubkey, Provider: p.pubkey,
		Resource: bid.Resource, Prices: prices, Quantity: q, Duration: bid.Duration, Amount: amount,
		Session: session, Payment: pay, PaymentRequest: req,
		Expiration: nostr.Timestamp(now.Add(nips.MaxMatchTTL * time.Second).Unix()),
	}
	// Record first, with the match's id: a buyer that pays or declines as
	// soon as it sees the match finds it.
	evt := m.ToEvent(nostr.Now())
	if err := p.node.Sign(&evt); err != nil {
		return nips.Match{}, fmt.Errorf("provider: sign match: %w", err)
	}
	rec := state.Session{ID: session, Role: state.RoleProvider, Resource: bid.Resource, Counterparty: bid.Pubkey,
		MatchID: evt.ID, Offer: o.Address(), Prices: prices, Quantity: q, Duration: bid.Duration, AmountMsat: amount}
	if err := p.db.PutSession(ctx, rec); err != nil {
		return nips.Match{}, err
	}
	ev, err := p.node.Publish(ctx, evt) // signed again: the same id, unless a relay's fee changed it
	if err != nil {
		rec.MatchID = "" // not answered yet: the bid may be answered again
		if rerr := p.db.PutSession(context.WithoutCancel(ctx), rec); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nips.Match{}, fmt.Errorf("provider: publish match: %w", err)
	}
	m.EventID, m.Pubkey = ev.ID, ev.PubKey
	if ev.ID != evt.ID {
		rec.MatchID = ev.ID
		if err := p.db.PutSession(ctx, rec); err != nil {
			return nips.Match{}, err
		}
	}
	p.log.Info("match published", "session", session, "buyer", bid.Pubkey, "resource", bid.Resource, "amount_msat", amount)
	return m, nil
}

// buildReceipt is the transport.ReceiptBuilder.
func (p *Provider) buildReceipt(ctx context.Context, session, buyer string) (nips.Receipt, error) {
	s, err := p.db.GetSession(ctx, session)
	if err != nil || s.Role != state.RoleProvider || s.Counterparty != buyer {
		return nips.Receipt{}, errors.New("no such session with you")
	}
	// A buyer asks as soon as its transfer is done: let the session's
	// streams record their usage and payments first. Storage streams are
	// pooled: the buyer ends the session's (transport.Host.EndSession)
	// before asking, and a payment redeemed on one is booked by the time
	// it closes; what a storage session delivered is what it stored.
	// The gate seals the session until the receipt is signed: no new
	// stream or payment, and a stream still open after the wait is cut
	// (its usage is not booked), so the session's record stays what the
	// receipt says.
	g := p.gates[s.Resource]
	if g != nil && !g.Seal(ctx, session, 2*time.Second) {
		p.log.Info("receipt excludes a stream still open", "session", session)
	}
	if s, err = p.db.GetSession(ctx, session); err != nil {
		if g != nil {
			g.Unseal(session)
		}
		return nips.Receipt{}, err
	}
	if s.PaidMsat == 0 {
		if g != nil {
			g.Unseal(session)
		}
		return nips.Receipt{}, errors.New("nothing was paid in this session")
	}
	r := nips.Receipt{
		Session: s.ID, Match: s.MatchID, Buyer: buyer, Resource: s.Resource,
		Delivered: deliveredUnits(s.Resource, s.Delivered), Paid: s.PaidMsat, Payment: p.payments()[0],
	}
	if s.Resource == nips.Bandwidth {
		r.Bytes = s.Delivered
	}
	if s.Resource == nips.Storage {
		// What the session stored, in GiB (rounded up), and the stored
		// objects when they fit in one receipt (see nips/receipt.md).
		ids, count, bytes, err := p.db.SessionChunks(ctx, session, nips.MaxContentIDs)
		if err != nil {
			return nips.Receipt{}, err
		}
		r.Delivered, r.Bytes = deliveredUnits(nips.Storage, bytes), bytes
		if count <= nips.MaxContentIDs {
			r.ContentIDs = ids
		}
	}
	return r, nil
}

// deliveredUnits converts counted units (bytes, tokens) to the receipt's
// quantity unit (GiB, MiB, tokens), rounding up.
func deliveredUnits(r nips.Resource, n uint64) uint64 {
	switch r {
	case nips.Storage:
		return (n + 1<<30 - 1) >> 30
	case nips.Bandwidth:
		return (n + 1<<20 - 1) >> 20
	}
	return n
}

func (p *Provider) finishReceipt(ctx context.Context, ev *nostr.Event, r nips.Receipt) error {
	if err := p.node.Sign(ev); err != nil {
		return err
	}
	if _, err := nips.ParseReceipt(ev); err != nil {
		return err
	}
	// With no relay reachable (a LAN trade) the receipt waits in the
	// outbox (agentd.Node.FlushOutbox).
	if err := p.node.PublishSigned(ctx, *ev); err != nil {
		return err
	}
	if err := p.db.FinishSession(ctx, r.Session, "done", ev.ID); err != nil {
		return err
	}
	if g := p.gates[r.Resource]; g != nil {
		g.Unseal(r.Session) // the closed session refuses streams from now
	}
	p.askRefund() // what it paid ahead and did not use goes back
	return nil
}
