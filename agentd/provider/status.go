package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// PriceStatus is one resource's current prices and how they got there.
type PriceStatus struct {
	Resource nips.Resource
	Prices   nips.Prices // what the offer asks now
	// Pricing bounds the dynamically adjusted price (the first of Prices;
	// the others move in proportion).
	Pricing Pricing
	Load    float64 // now, 0-1
	// Last is the last pricing step, Changed the last that moved the price
	// (zero At: none yet).
	Last, Changed Move
}

// Status is what the provider is doing now.
type Status struct {
	Started                   time.Time
	Prices                    []PriceStatus // in nips.Resources order
	StorageUsed, StorageQuota int64         // bytes (0, 0: no storage sold)
}

// Status reports the provider's prices, load and storage now.
func (p *Provider) Status() Status {
	s := Status{Started: p.start}
	for _, r := range nips.Resources {
		m := p.meters[r]
		if m == nil {
			continue
		}
		last, changed := m.moves()
		s.Prices = append(s.Prices, PriceStatus{Resource: r, Prices: p.prices(r), Pricing: m.pricing, Load: p.load(r), Last: last, Changed: changed})
	}
	if p.store != nil {
		s.StorageUsed, s.StorageQuota = p.store.Used(), p.store.Quota()
	}
	return s
}

// Network is the market as this node's relays show it.
type Network struct {
	// Seen is the providers with an offer or a presence beacon on the
	// relays; Online those whose beacon has not expired.
	Seen, Online int
}

// Network counts the providers on the relays (this one included).
func (p *Provider) Network(ctx context.Context) (Network, error) {
	evs, err := p.relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindPresence, nips.KindOffer}, Limit: 2000})
	if err != nil {
		return Network{}, fmt.Errorf("provider: network: %w", err)
	}
	now := nostr.Now()
	seen, online := map[string]bool{}, map[string]bool{}
	for _, ev := range evs {
		seen[ev.PubKey] = true
		if ev.Kind != nips.KindPresence {
			continue
		}
		if b, err := nips.ParsePresence(ev); err == nil && (b.Expiration == 0 || b.Expiration > now) {
			online[ev.PubKey] = true
		}
	}
	return Network{Seen: len(seen), Online: len(online)}, nil
}
