package marketplace

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
)

// publishers bounds the proposals being published at once. Each publication
// waits for its durable commit; running several lets them share one.
const publishers = 64

// matchLoop is the single owner of the book's writes: it applies queued
// events in arrival order, lapses the proposals no provider answered in
// time (every ExpireInterval, on the injected clock) and, while this
// process leads, publishes the proposals they make. A follower applies the
// same events and lapses so its book stays the leader's.
func (m *Marketplace) matchLoop(ctx context.Context) {
	sem := make(chan struct{}, publishers)
	var wg sync.WaitGroup
	defer wg.Wait()
	// publish runs fn on a goroutine of its own, at most publishers at
	// once; false once ctx ended before there was room.
	publish := func(fn func()) bool {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn()
		}()
		return true
	}
	lapse := time.NewTicker(m.cfg.ExpireInterval)
	defer lapse.Stop()
	for {
		var fills []market.Fill
		select {
		case <-ctx.Done():
			return
		case lead := <-m.leads:
			m.takeOver(ctx, lead)
		case <-m.rebuild:
			m.rebook(ctx)
		case evt := <-m.queue:
			fills = m.apply(evt)
		case <-lapse.C:
			fills = m.x.Lapse(m.now())
		}
		ends := m.x.TakeEnded()
		if !m.leading() {
			fills, ends = nil, nil // a follower keeps its book for the views only
		}
		for _, f := range fills {
			if !publish(func() {
				if err := m.publishProposal(ctx, f); err != nil {
					m.log.Warn("proposal not published", "session", f.Session, "bid", f.BidID, "err", err)
				}
			}) {
				return
			}
		}
		// The markers go out with the proposals, in no set order: each
		// counts the proposals made of its bid, so a buyer that reads it
		// first waits for the rest.
		for _, e := range ends {
			if !publish(func() {
				if err := m.publishEnd(ctx, e); err != nil {
					m.log.Warn("end of proposals not published", "bid", e.BidID, "err", err)
				}
			}) {
				return
			}
		}
	}
}

// publishEnd signs the end of proposals of an open bid (nips.ProposalsEnd)
// with the relay's key and publishes it.
func (m *Marketplace) publishEnd(ctx context.Context, e market.BidEnd) error {
	now := m.now()
	evt := e.ProposalsEnd(now).ToEvent(nostr.Timestamp(now.Unix()))
	if err := m.r.Sign(&evt); err != nil {
		return fmt.Errorf("sign end of proposals: %w", err)
	}
	return m.r.Publish(ctx, &evt)
}

// apply books one accepted event and returns the proposals it made.
func (m *Marketplace) apply(evt *nostr.Event) []market.Fill {
	switch evt.Kind {
	case nips.KindReceipt, nips.KindAttestation:
		if _, err := m.graph.Apply(evt); err != nil {
			m.log.Debug("trust evidence ignored", "id", evt.ID, "err", err)
		}
		return nil
	case nips.KindRefusal:
		r, err := nips.ParseRefusal(evt)
		switch {
		case err != nil:
			return nil
		case r.IsDecline() || r.IsRelease():
			// The buyer will not pay a match, or it lapsed unpaid at its
			// provider: its capacity is back.
			return m.x.Decline(r, m.now())
		case r.To != m.r.PublicKey():
			return nil // another relay's proposal: its provider told that relay
		}
		return m.x.Refuse(r, m.now())
	}
	fills, err := m.x.Apply(evt, m.now())
	if err != nil {
		m.log.Debug("order not booked", "id", evt.ID, "kind", evt.Kind, "err", err)
	}
	return fills
}

// publishProposal signs a fill as a proposal with the relay's key and
// publishes it.
func (m *Marketplace) publishProposal(ctx context.Context, f market.Fill) error {
	evt := f.Proposal().ToEvent(nostr.Timestamp(m.now().Unix()))
	if err := m.r.Sign(&evt); err != nil {
		return fmt.Errorf("sign proposal: %w", err)
	}
	if err := m.r.Publish(ctx, &evt); err != nil {
		return err
	}
	m.proposalsPublished.Add(1)
	return nil
}

// replay rebuilds the book and the trust graph from the store: offers,
// bids, providers' matches and refusals in the order they were made (the
// store already dropped deleted and expired ones), then receipts and
// attestations. Proposals the replay makes were published before a
// restart, unless the leader stopped between storing a bid and publishing
// its proposal: those are published now when publish is set (this process
// leads).
func (m *Marketplace) replay(ctx context.Context, publish bool) error {
	store := m.r.Store()
	load := func(kinds ...int) ([]*nostr.Event, error) {
		ch, err := store.QueryEvents(ctx, nostr.Filter{Kinds: kinds})
		if err != nil {
			return nil, err
		}
		var out []*nostr.Event
		for evt := range ch {
			out = append(out, evt)
		}
		slices.SortFunc(out, func(a, b *nostr.Event) int {
			return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
		})
		return out, nil
	}
	orders, err := load(nips.KindOffer, nips.KindBid, nips.KindMatch, nips.KindRefusal)
	if err != nil {
		return err
	}
	var missing []market.Fill
	for _, evt := range orders {
		fills := m.apply(evt)
		if len(fills) == 0 || !publish {
			continue
		}
		published, err := m.publishedSessions(ctx, evt.ID, fills)
		if err != nil {
			return err
		}
		for _, f := range fills {
			if !published[f.Session] {
				missing = append(missing, f)
			}
		}
	}
	evidence, err := load(nips.KindReceipt, nips.KindAttestation)
	if err != nil {
		return err
	}
	for _, evt := range evidence {
		m.apply(evt)
	}
	for _, f := range missing {
		if err := m.publishProposal(ctx, f); err != nil {
			return fmt.Errorf("publish proposal left unpublished: %w", err)
		}
	}
	// The bids the book has nothing more to propose for now: a buyer whose
	// bid came in before this process led (or while it restarted) hears
	// it too.
	for _, e := range m.x.TakeEnded() {
		if !publish {
			break
		}
		if err := m.publishEnd(ctx, e); err != nil {
			return fmt.Errorf("publish end of proposals: %w", err)
		}
	}
	m.log.Info("market replayed", "orders", len(orders), "evidence", len(evidence), "proposals_published", len(missing))
	return nil
}

// publishedSessions returns the sessions of the relay's proposals already
// stored for the bids a replayed event filled.
func (m *Marketplace) publishedSessions(ctx context.Context, _ string, fills []market.Fill) (map[string]bool, error) {
	bids := make([]string, 0, len(fills))
	for _, f := range fills {
		bids = append(bids, f.BidID)
	}
	ch, err := m.r.Store().QueryEvents(ctx, nostr.Filter{
		Kinds:   []int{nips.KindProposal},
		Authors: []string{m.r.PublicKey()},
		Tags:    nostr.TagMap{"e": bids},
	})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for evt := range ch {
		if p, err := nips.ParseProposal(evt); err == nil {
			out[p.Session] = true
		}
	}
	return out, nil
}
