package marketplace

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
)

// publishers bounds the matches being published at once. Each publication
// waits for its durable commit; running several lets them share one.
const publishers = 64

// matchLoop is the single owner of the book's writes: it applies queued
// events in arrival order and, while this process leads, publishes the
// fills they make.
func (m *Marketplace) matchLoop(ctx context.Context) {
	sem := make(chan struct{}, publishers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case lead := <-m.leads:
			m.takeOver(ctx, lead)
		case <-m.rebuild:
			m.rebook(ctx)
		case evt := <-m.queue:
			fills := m.apply(evt)
			if !m.leading() {
				// A follower keeps its book for the views; the leader
				// publishes the fills.
				fills = nil
			}
			for _, f := range fills {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					if err := m.publishMatch(ctx, f); err != nil {
						m.log.Warn("match not published", "session", f.Session, "bid", f.BidID, "err", err)
					}
				}()
			}
		}
	}
}

// apply books one accepted event and returns the fills it made.
func (m *Marketplace) apply(evt *nostr.Event) []market.Fill {
	switch evt.Kind {
	case nips.KindReceipt, nips.KindAttestation:
		if _, err := m.graph.Apply(evt); err != nil {
			m.log.Debug("trust evidence ignored", "id", evt.ID, "err", err)
		}
		return nil
	}
	fills, err := m.x.Apply(evt, m.now())
	if err != nil {
		m.log.Debug("order not booked", "id", evt.ID, "kind", evt.Kind, "err", err)
	}
	return fills
}

// publishMatch signs a fill as a Match with the relay's key and publishes it.
func (m *Marketplace) publishMatch(ctx context.Context, f market.Fill) error {
	evt := f.Match().ToEvent(nostr.Now())
	if err := m.r.Sign(&evt); err != nil {
		return fmt.Errorf("sign match: %w", err)
	}
	if err := m.r.Publish(ctx, &evt); err != nil {
		return err
	}
	m.matchesPublished.Add(1)
	return nil
}

// replay rebuilds the book and the trust graph from the store: offers and
// bids in the order they were made (the store already dropped deleted and
// expired ones), then receipts and attestations. Fills the replay makes were
// published before a restart, unless the leader stopped between storing a
// bid and publishing its match: those are published now when publish is
// set (this process leads).
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
	orders, err := load(nips.KindOffer, nips.KindBid)
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
		if err := m.publishMatch(ctx, f); err != nil {
			return fmt.Errorf("publish match left unpublished: %w", err)
		}
	}
	m.log.Info("market replayed", "orders", len(orders), "evidence", len(evidence), "matches_published", len(missing))
	return nil
}

// publishedSessions returns the sessions of relay matches already stored for
// the bids a replayed event filled.
func (m *Marketplace) publishedSessions(ctx context.Context, _ string, fills []market.Fill) (map[string]bool, error) {
	bids := make([]string, 0, len(fills))
	for _, f := range fills {
		bids = append(bids, f.BidID)
	}
	ch, err := m.r.Store().QueryEvents(ctx, nostr.Filter{
		Kinds:   []int{nips.KindMatch},
		Authors: []string{m.r.PublicKey()},
		Tags:    nostr.TagMap{"e": bids},
	})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for evt := range ch {
		if match, err := nips.ParseMatch(evt); err == nil {
			out[match.Session] = true
		}
	}
	return out, nil
}
