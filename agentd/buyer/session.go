package buyer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/keyer"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// Session is an open session with one provider, from a match.
type Session struct {
	ID       string
	Provider string
	Peer     peer.ID
	Offer    nips.Offer
	Match    nips.Match
	Payer    *metering.Payer // nil for inference (paid per request)
	Opened   time.Time
	// Latency is the round trip to the provider measured when the session
	// opened (the probe's connect time, or libp2p's RTT estimate): the
	// attestation's latency_ms.
	Latency time.Duration
}

// Open bids on c's offer for quantity (and duration, storage), waits for
// the provider's match, checks it and records the session.
func (b *Buyer) Open(ctx context.Context, c Candidate, quantity, duration uint64, model string) (*Session, error) {
	o := c.Offer
	// A provider that stopped since discovery fails here fast, not after
	// the match timeout.
	lat, pid, err := b.probe(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("%w: %s unreachable: %v", ErrNoMatch, o.Pubkey, err)
	}
	c.Peer = pid
	bid := nips.Bid{
		Resource: o.Resource, Offer: o.Address(), MaxPrices: b.cfg.Ceilings[o.Resource],
		Quantity: max(quantity, o.MinQuantity), Duration: duration, Payments: []nips.Payment{b.payment()},
		Model: model, Expiration: nostr.Timestamp(time.Now().Add(10 * time.Minute).Unix()),
	}
	// Publish first (a relay may charge a fee, which changes the id);
	// the subscription then finds the match even if it is already stored.
	ev, err := b.publishBid(ctx, bid, o.Pubkey)
	if err != nil {
		return nil, fmt.Errorf("buyer: publish bid: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, b.cfg.MatchTimeout)
	defer cancel()
	got := make(chan nips.Match, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.relays.Subscribe(sctx, nostr.Filters{{Kinds: []int{nips.KindMatch}, Tags: nostr.TagMap{"e": {ev.ID}}}}, func(mev *nostr.Event) {
			if ok, _ := mev.CheckSignature(); !ok || mev.PubKey != o.Pubkey {
				return
			}
			m, err := nips.ParseMatch(mev)
			if err != nil || m.Bid != ev.ID {
				return
			}
			select {
			case got <- m:
			default:
			}
		}, nil)
	}()
	defer wg.Wait()
	defer cancel()
	var m nips.Match
	select {
	case m = <-got:
	case <-sctx.Done():
		return nil, fmt.Errorf("%w: %s did not answer bid %s", ErrNoMatch, o.Pubkey, ev.ID)
	}
	if err := b.checkMatch(m, bid, o); err != nil {
		return nil, err
	}
	return b.record(ctx, m, o, c.Peer, lat)
}

// publishBid publishes bid, gift-wrapped to provider with PrivateBids. It
// returns the bid event (for a private bid: the rumor, whose id the match
// names).
func (b *Buyer) publishBid(ctx context.Context, bid nips.Bid, provider string) (nostr.Event, error) {
	now := nostr.Now()
	if !b.cfg.PrivateBids {
		return b.node.Publish(ctx, bid.ToEvent(now))
	}
	k, err := keyer.NewPlainKeySigner(b.secret)
	if err != nil {
		return nostr.Event{}, err
	}
	gw, err := nips.WrapBid(ctx, bid, now, k, provider)
	if err != nil {
		return nostr.Event{}, err
	}
	if err := b.node.PublishSigned(ctx, gw); err != nil {
		return nostr.Event{}, err
	}
	rumor := bid.ToEvent(now)
	rumor.PubKey = b.pubkey
	rumor.ID = rumor.GetID()
	return rumor, nil
}

func (b *Buyer) checkMatch(m nips.Match, bid nips.Bid, o nips.Offer) error {
	switch {
	case m.Buyer != b.pubkey:
		return fmt.Errorf("%w: match for another buyer", ErrNoMatch)
	case m.Provider != o.Pubkey || m.Pubkey != o.Pubkey:
		return fmt.Errorf("%w: match not signed by the offer's provider", ErrNoMatch)
	case !m.Prices.Within(bid.MaxPrices):
		return fmt.Errorf("%w: match prices above our ceiling", ErrNoMatch)
	case m.Payment.Method != nips.PayCashu || !b.wallet.Allowed(m.Payment.Mint):
		return fmt.Errorf("%w: match asks for a mint we do not use", ErrNoMatch)
	}
	req, err := creq.DecodeAny(m.PaymentRequest) // creqA (NUT-18) or creqb1 (NUT-26)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoMatch, err)
	}
	if req.Amount > metering.MsatToSats(m.Amount) {
		return fmt.Errorf("%w: payment request of %d sats over the match amount", ErrNoMatch, req.Amount)
	}
	return nil
}

// session returns the open session with provider c for r, opening one.
func (b *Buyer) session(ctx context.Context, c Candidate, quantity, duration uint64, model string) (*Session, error) {
	key := c.Offer.Pubkey + "/" + string(c.Offer.Resource)
	b.mu.Lock()
	s := b.sessions[key]
	b.mu.Unlock()
	if s != nil && time.Until(time.Unix(int64(s.Match.Expiration), 0)) > time.Minute {
		return s, nil
	}
	s, err := b.Open(ctx, c, quantity, duration, model)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.sessions[key] = s
	b.mu.Unlock()
	return s, nil
}

// payers dispatches a transport pause point to the payer of its provider.
type payers map[peer.ID]*metering.Payer

// MarketSession implements transport.SessionPayer: streams to a provider
// name the market session of its payer.
func (p payers) MarketSession(provider peer.ID) string {
	if pp := p[provider]; pp != nil {
		return pp.Market
	}
	return ""
}

// Pay implements transport.Payer.
func (p payers) Pay(ctx context.Context, inv transport.Invoice) ([]byte, error) {
	pp := p[inv.Provider]
	if pp == nil {
		return nil, fmt.Errorf("buyer: no session with %s", inv.Provider)
	}
	return pp.Pay(ctx, inv)
}

// record stores a checked match as a buyer session and prepares its payer.
// lat is the round trip measured to the provider.
func (b *Buyer) record(ctx context.Context, m nips.Match, o nips.Offer, pid peer.ID, lat time.Duration) (*Session, error) {
	s := &Session{ID: m.Session, Provider: o.Pubkey, Peer: pid, Offer: o, Match: m, Opened: time.Now(), Latency: lat}
	if err := b.db.PutSession(ctx, state.Session{ID: m.Session, Role: state.RoleBuyer, Resource: o.Resource, Counterparty: o.Pubkey,
		MatchID: m.EventID, Offer: o.Address(), Prices: m.Prices, Quantity: m.Quantity, Duration: m.Duration, AmountMsat: m.Amount}); err != nil {
		return nil, err
	}
	if o.Resource != nips.Inference {
		rate, err := metering.RateFor(o.Resource, m.Prices, m.Duration)
		if err != nil {
			return nil, err
		}
		s.Payer = &metering.Payer{Wallet: b.wallet, DB: b.db, Session: m.Session, Market: m.Session, Provider: o.Pubkey, Resource: o.Resource,
			Rate: rate, Step: b.cfg.StepBytes, Limit: metering.MsatToSats(m.Amount), Log: b.log}
		if o.Resource == nips.Bandwidth {
			// Steps grow with the session (as a large file's do): a
			// fast connection does not wait on a mint swap every
			// StepBytes, and what is paid ahead stays a fixed fraction
			// of the price.
			s.Payer.Step = stepIn(b.cfg.StepBytes, m.Quantity<<20, bandwidthSteps)
		}
		if o.Resource == nips.Storage {
			// Storage units are market.StorageCharge's: what the
			// quantity bought costs to store, with its upload price.
			b.storePayer(s, m.Quantity<<30)
		}
	}
	b.log.Info("session opened", "session", m.Session, "provider", o.Pubkey, "resource", o.Resource, "amount_msat", m.Amount)
	return s, nil
}
