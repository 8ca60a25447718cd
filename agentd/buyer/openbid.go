package buyer

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// openEvents bounds the proposals, refusals and matches of one open bid
// waiting to be read; a flood beyond it is dropped.
const openEvents = 256

// openSettle is how long collect waits, once every proposal it saw is
// answered and it holds enough matches but fewer than it wants, for a
// proposal it has not seen yet (one a refusal made, or a second relay's).
const openSettle = 250 * time.Millisecond

// OpenBid publishes an open bid for r (no offer named) and opens a session
// on one of the matches providers sign for it. The relays' engines propose
// the bid to offers (kind 8468); each offer's provider confirms with its
// match (the session's only match) or refuses (kind 8469). OpenBid waits
// for a first match, then for every proposal it saw to be confirmed or
// refused (MatchTimeout bounds the whole wait), and takes the best match by
// its own ranking: price, trust as the buyer computes it, and the latency
// it measures. It then deletes the bid (NIP-09) so no relay proposes it
// again, and declines the matches it did not take (kind 8469, see decline)
// so their providers release the capacity at once; so are matches that
// arrive later (see declineLate).
func (b *Buyer) OpenBid(ctx context.Context, r nips.Resource, quantity, duration uint64, model string) (*Session, error) {
	bid := nips.Bid{Resource: r, Quantity: quantity, Duration: duration, Model: model}
	_, kept, err := b.openBid(ctx, bid, 1, 1)
	if err != nil {
		return nil, err
	}
	return b.record(ctx, kept[0].m, kept[0].c.Offer, kept[0].c.Peer, kept[0].c.Latency)
}

// openBid publishes bid (its prices, payment and expiration filled in
// here) and waits for the providers' matches of it (see collect): at least
// one, at most want kept, and it stops waiting early once it holds enough
// and every proposal it saw is answered. The bid is then deleted, the
// matches are ranked (see rank) and the best want kept; the others are
// declined, and so is every match of the bid that arrives afterwards,
// until the bid expires or the buyer closes (declineLate). It records no
// session: the caller checks the cost of those kept and records them, or
// declines them. It returns the bid as published.
func (b *Buyer) openBid(ctx context.Context, bid nips.Bid, want, enough int) (nips.Bid, []ranked, error) {
	matching := b.matchingRelays(ctx)
	if matching == 0 {
		return bid, nil, fmt.Errorf("%w: %w", ErrNoMatch, ErrNoMatching)
	}
	bid.MaxPrices, bid.Payments = b.cfg.Ceilings[bid.Resource], []nips.Payment{b.payment()}
	bid.Expiration = nostr.Timestamp(time.Now().Add(openBidTTL).Unix())
	// Publish first (a relay may charge a fee, which changes the id); the
	// subscription then finds what is already stored.
	ev, err := b.node.Publish(ctx, bid.ToEvent(nostr.Now()))
	if err != nil {
		return bid, nil, fmt.Errorf("buyer: publish open bid: %w", err)
	}
	bid.EventID, bid.Pubkey = ev.ID, ev.PubKey
	// The subscription outlives this call, so that late matches are
	// declined: for openLateWatch after collecting ends (each one holds a
	// subscription at every relay, which relays limit per connection),
	// within the bid's lifetime, or until the buyer closes.
	end := time.Now().Add(b.cfg.MatchTimeout + openLateWatch)
	if exp := time.Unix(int64(bid.Expiration), 0); exp.Before(end) {
		end = exp
	}
	wctx, stop := context.WithDeadline(b.bg, end)
	evs := make(chan *nostr.Event, openEvents)
	b.watch.Add(1)
	go func() {
		defer b.watch.Done()
		defer stop() // the pool closed: declineLate ends too
		b.relays.Subscribe(wctx, nostr.Filters{{Kinds: []int{nips.KindProposal, nips.KindMatch, nips.KindRefusal, nips.KindProposalsEnd}, Tags: nostr.TagMap{"e": {ev.ID}}}},
			func(ev *nostr.Event) {
				select {
				case evs <- ev:
				default:
				}
			}, nil)
	}()
	sctx, cancel := context.WithTimeout(ctx, b.cfg.MatchTimeout)
	matches := b.collect(sctx, bid, evs, want, enough, matching)
	cancel()
	// Every match collected is kept or declined here; later ones are
	// declined by declineLate.
	handled := map[string]bool{}
	for _, m := range matches {
		handled[m.Session] = true
	}
	b.watch.Add(1)
	go func() {
		defer b.watch.Done()
		defer stop()
		b.declineLate(wctx, bid, evs, handled)
	}()
	// Deleted first: the capacity the declines return is not proposed
	// this bid again.
	b.cancelBid(ctx, bid)
	if len(matches) == 0 {
		return bid, nil, fmt.Errorf("%w: no provider confirmed open bid %s", ErrNoMatch, ev.ID)
	}
	all, errs := b.rank(ctx, bid, matches)
	kept := all[:min(want, len(all))]
	keep := map[string]bool{}
	for _, k := range kept {
		keep[k.m.Session] = true
	}
	if len(kept) == 0 {
		b.declineAll(ctx, bid, matches, nil, "no confirmed match checks out")
		return bid, nil, fmt.Errorf("%w: no confirmed match checks out: %v", ErrNoMatch, errs)
	}
	b.declineAll(ctx, bid, matches, keep, "took another provider")
	return bid, kept, nil
}

// openBidTTL is an open bid's lifetime (NIP-40): the relays drop it then
// if its deletion did not reach them.
const openBidTTL = 10 * time.Minute

// openLateWatch is how long after collecting the buyer watches for late
// matches to decline. A late match comes from a proposal made before the
// bid's deletion reached its relay, confirmed within seconds; one later
// still lapses at its provider after the payment window, which then
// releases it (kind 8469).
const openLateWatch = time.Minute

// collect reads the proposals, refusals, matches and ends of proposals of
// bid until it holds want matches (at least one) and no proposal it saw is
// unanswered, or ctx ends. Holding enough (at least one) but fewer than
// want with none unanswered, it waits openSettle more for a new proposal,
// then stops: the relays have proposed what their books hold. Once every
// relay has said it has nothing more to propose (see ends), it stops as
// soon as its matches and the proposals still unanswered are fewer than
// enough: they can no longer make enough. It returns the providers'
// matches, one per session.
//
// relays is how many relays run matching (matchingRelays): only they
// propose, and only their ends are waited for.
func (b *Buyer) collect(ctx context.Context, bid nips.Bid, evs <-chan *nostr.Event, want, enough, relays int) []nips.Match {
	want, enough = max(want, 1), max(min(enough, want), 1)
	pending := map[string]string{} // session -> provider of proposals unanswered
	matched := map[string]nips.Match{}
	done := ends{relays: relays, proposed: map[string]map[string]bool{}, ended: map[string]uint64{}}
	settle := time.NewTimer(openSettle)
	defer settle.Stop()
	for len(matched) < want || len(pending) > 0 {
		if done.all() && len(matched)+len(pending) < enough {
			b.log.Info("open bid: the relays have nothing more to propose", "bid", bid.EventID,
				"matches", len(matched), "unanswered", len(pending), "needed", enough)
			return mapValues(matched)
		}
		var quiet <-chan time.Time
		if len(pending) == 0 && len(matched) >= enough {
			quiet = settle.C
		}
		var ev *nostr.Event
		select {
		case ev = <-evs:
			settle.Reset(openSettle)
		case <-quiet:
			return mapValues(matched)
		case <-ctx.Done():
			return mapValues(matched)
		}
		if ok, _ := ev.CheckSignature(); !ok {
			continue
		}
		switch ev.Kind {
		case nips.KindProposal:
			p, err := nips.ParseProposal(ev)
			if err != nil || p.Bid != bid.EventID || p.Buyer != bid.Pubkey {
				continue
			}
			if _, ok := matched[p.Session]; !ok {
				pending[p.Session] = p.Provider
			}
			done.propose(ev.PubKey, p.Session)
		case nips.KindMatch:
			m, err := nips.ParseMatch(ev) // signed by the provider, with a payment request
			if err != nil || m.Bid != bid.EventID || m.Buyer != bid.Pubkey {
				continue
			}
			if _, ok := matched[m.Session]; !ok {
				matched[m.Session] = m
			}
			delete(pending, m.Session)
		case nips.KindRefusal:
			r, err := nips.ParseRefusal(ev)
			if err != nil || r.Proposal == "" || r.Bid != bid.EventID || pending[r.Session] != r.Pubkey {
				continue // a decline, a release, or not of a proposal we wait for
			}
			delete(pending, r.Session)
		case nips.KindProposalsEnd:
			e, err := nips.ParseProposalsEnd(ev)
			if err != nil || e.Bid != bid.EventID || e.Buyer != bid.Pubkey {
				continue
			}
			done.end(e)
		}
	}
	return mapValues(matched)
}

// ends tracks which relays said they have nothing more to propose for a
// bid (nips.ProposalsEnd), by signing key.
type ends struct {
	relays   int                        // the relays the bid went to
	proposed map[string]map[string]bool // relay key -> sessions it proposed (seen)
	ended    map[string]uint64          // relay key -> proposals its latest end counts
	latest   map[string]nostr.Timestamp // relay key -> created_at of that end
}

func (d *ends) propose(relay, session string) {
	if d.proposed[relay] == nil {
		d.proposed[relay] = map[string]bool{}
	}
	d.proposed[relay][session] = true
}

func (d *ends) end(e nips.ProposalsEnd) {
	if d.latest == nil {
		d.latest = map[string]nostr.Timestamp{}
	}
	if t, ok := d.latest[e.Pubkey]; ok && (e.CreatedAt < t || (e.CreatedAt == t && e.Proposals <= d.ended[e.Pubkey])) {
		return
	}
	d.latest[e.Pubkey], d.ended[e.Pubkey] = e.CreatedAt, e.Proposals
}

// all reports whether nothing more will be proposed: as many relays ended
// as the bid went to, each has had all the proposals its end counts seen,
// and every relay that proposed has ended.
func (d *ends) all() bool {
	if d.relays == 0 || len(d.ended) < d.relays {
		return false
	}
	for relay, n := range d.ended {
		if uint64(len(d.proposed[relay])) < n {
			return false // proposals still on their way
		}
	}
	for relay := range d.proposed {
		if _, ok := d.ended[relay]; !ok {
			return false
		}
	}
	return true
}

// declineLate declines every provider's match of bid read from evs whose
// session is not in handled (those openBid kept or declined itself): a
// confirmation that reaches the buyer after it chose (a proposal still
// unanswered when collect stopped, or a relay the bid's deletion had not
// reached yet) would otherwise hold that provider's capacity for its
// payment window. It runs until ctx ends (openLateWatch, the bid's
// expiration, the buyer's Close, or the relays' subscription ending).
func (b *Buyer) declineLate(ctx context.Context, bid nips.Bid, evs <-chan *nostr.Event, handled map[string]bool) {
	for {
		var ev *nostr.Event
		select {
		case <-ctx.Done():
			return
		case ev = <-evs:
		}
		if ev.Kind != nips.KindMatch {
			continue
		}
		if ok, _ := ev.CheckSignature(); !ok {
			continue
		}
		m, err := nips.ParseMatch(ev)
		if err != nil || m.Bid != bid.EventID || m.Buyer != bid.Pubkey || handled[m.Session] {
			continue
		}
		handled[m.Session] = true
		b.log.Info("late match of an open bid declined", "session", m.Session, "provider", m.Provider)
		b.decline(ctx, bid, m, "came after the bid was taken")
	}
}

func mapValues(m map[string]nips.Match) []nips.Match {
	out := make([]nips.Match, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// ranked is a provider's match that checks out, with the buyer's view of
// its provider.
type ranked struct {
	m nips.Match
	c Candidate
}

// rank checks the providers' matches of bid (the offer they name, our
// ceilings, mint and payment request, the provider alive) and ranks those
// that check out with the buyer's own view (see score: price, trust from
// our seeds, measured latency, past failures), best first. It returns why
// the others did not check out.
func (b *Buyer) rank(ctx context.Context, bid nips.Bid, matches []nips.Match) ([]ranked, []error) {
	scores := b.trust(ctx)
	stats, _ := b.db.Providers(ctx)
	var out []ranked
	var errs []error
	for _, m := range matches {
		o, err := b.matchedOffer(ctx, m)
		if err == nil {
			err = b.checkMatch(m, bid, o)
		}
		if err == nil && b.isDead(o) {
			err = fmt.Errorf("%w: %s stopped answering", ErrNoMatch, o.Pubkey)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lat, pid, err := b.probe(ctx, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s unreachable: %v", ErrNoMatch, o.Pubkey, err))
			continue
		}
		c := Candidate{Offer: o, Trust: scores.Rank(o.Pubkey), Latency: lat, Peer: pid}
		c.Score = score(m.Prices.Sum(), c.Trust, lat, stats[o.Pubkey])
		out = append(out, ranked{m: m, c: c})
	}
	slices.SortFunc(out, func(x, y ranked) int {
		return cmp.Or(cmp.Compare(x.c.Score, y.c.Score), cmp.Compare(x.c.Offer.Pubkey, y.c.Offer.Pubkey))
	})
	return out, errs
}

// declineAll declines the matches of bid whose session is not in keep.
func (b *Buyer) declineAll(ctx context.Context, bid nips.Bid, matches []nips.Match, keep map[string]bool, reason string) {
	for _, m := range matches {
		if !keep[m.Session] {
			b.decline(ctx, bid, m, reason)
		}
	}
}

// decline tells a provider we will not pay its match of our open bid
// (kind 8469 with an e match, signed by the bid's key): it releases the
// capacity it holds for it at once instead of at the end of its payment
// window. Published before the caller goes on, so a provider reading its
// relay in order sees the decline before anything the caller does next.
func (b *Buyer) decline(ctx context.Context, bid nips.Bid, m nips.Match, reason string) {
	now := nostr.Now()
	if m.EventID == "" || m.Provider == bid.Pubkey || m.Expiration <= now {
		return // nothing to release: the match has lapsed
	}
	d := nips.Refusal{Match: m.EventID, Bid: bid.EventID, To: m.Provider, Session: m.Session, Reason: reason,
		Expiration: min(m.Expiration, now+nips.MaxMatchTTL)}
	if _, err := b.node.Publish(context.WithoutCancel(ctx), d.ToEvent(now)); err != nil {
		b.log.Info("decline not published", "session", m.Session, "provider", m.Provider, "err", err)
	}
}

// matchedOffer reads the offer a provider's match names.
func (b *Buyer) matchedOffer(ctx context.Context, m nips.Match) (nips.Offer, error) {
	pk, d, err := nips.ParseOfferAddress(m.Offer)
	if err != nil || pk != m.Provider {
		return nips.Offer{}, fmt.Errorf("%w: match names an offer of someone else", ErrNoMatch)
	}
	evs, err := b.relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindOffer}, Authors: []string{pk}, Tags: nostr.TagMap{"d": {d}}})
	if err != nil || len(evs) == 0 {
		return nips.Offer{}, fmt.Errorf("%w: the matched offer is gone", ErrNoMatch)
	}
	var o nips.Offer
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); !ok {
			continue
		}
		if x, err := nips.ParseOffer(ev); err == nil && x.CreatedAt >= o.CreatedAt {
			o = x
		}
	}
	if o.Pubkey == "" {
		return nips.Offer{}, fmt.Errorf("%w: the matched offer does not parse", ErrNoMatch)
	}
	return o, nil
}

// cancelBid deletes an open bid (NIP-09): what the relays did not propose
// yet is not proposed.
func (b *Buyer) cancelBid(ctx context.Context, bid nips.Bid) {
	del := nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(),
		Tags: nostr.Tags{{"e", bid.EventID}, {"k", fmt.Sprint(nips.KindBid)}}}
	if _, err := b.node.Publish(context.WithoutCancel(ctx), del); err != nil {
		b.log.Info("open bid not deleted", "bid", bid.EventID, "err", err)
	}
}

// openCandidates is candidates with open bids (Config.OpenBids): the
// provider of the open session for r, or of a new one the market matched.
func (b *Buyer) openCandidates(ctx context.Context, r nips.Resource, model string) ([]Candidate, error) {
	b.mu.Lock()
	for _, s := range b.sessions {
		if s.Offer.Resource == r && (model == "" || contains(s.Offer.Models, model)) &&
			time.Until(time.Unix(int64(s.Match.Expiration), 0)) > time.Minute {
			b.mu.Unlock()
			return []Candidate{{Offer: s.Offer, Peer: s.Peer, Latency: s.Latency}}, nil
		}
	}
	b.mu.Unlock()
	quantity := b.cfg.BandwidthMiB
	if r == nips.Inference {
		quantity = nips.DefaultMaxTokens + 1024
	}
	s, err := b.OpenBid(ctx, r, quantity, 0, model)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.sessions[s.Provider+"/"+string(r)] = s
	b.mu.Unlock()
	return []Candidate{{Offer: s.Offer, Peer: s.Peer, Latency: s.Latency}}, nil
}
