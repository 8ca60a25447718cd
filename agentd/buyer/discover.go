package buyer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
)

// Candidate is a ranked offer.
type Candidate struct {
	Offer   nips.Offer
	Trust   int
	Latency time.Duration
	Score   float64 // lower is better
	Peer    peer.ID
	Load    uint64 // percent, from the provider's presence beacon (0: none)
	// Routstr is set for a Routstr provider (kind 38421), bought over its
	// HTTP API instead of a sovmesh session; Offer is its announcement as
	// an offer (nips.RoutstrProvider.Offer).
	Routstr *RoutstrSource
}

// loads reads the presence beacons of the offers' providers.
func (b *Buyer) loads(ctx context.Context, offers map[string]nips.Offer) map[string]uint64 {
	out := map[string]uint64{}
	var authors []string
	for _, o := range offers {
		authors = append(authors, o.Pubkey)
	}
	if len(authors) == 0 {
		return out
	}
	evs, err := b.relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindPresence}, Authors: authors})
	if err != nil {
		return out
	}
	now := time.Now().Unix()
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); !ok {
			continue
		}
		if p, err := nips.ParsePresence(ev); err == nil && int64(p.Expiration) > now {
			out[p.Pubkey] = p.Load
		}
	}
	return out
}

// Discover returns the acceptable offers for r (and model, for
// inference), best first: price, trust and latency (see score).
func (b *Buyer) Discover(ctx context.Context, r nips.Resource, model string) ([]Candidate, error) {
	ceiling := b.cfg.Ceilings[r]
	evs, err := b.relays.Query(ctx, nips.OfferQuery{Resource: r, Ceiling: ceiling.Max(), Limit: 500}.Filter())
	if err != nil {
		return nil, fmt.Errorf("buyer: discover: %w", err)
	}
	latest := map[string]nips.Offer{}
	now := time.Now().Unix()
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); !ok {
			continue
		}
		o, err := nips.ParseOffer(ev)
		if err != nil || int64(o.Expiration) < now || o.Pubkey == b.pubkey || b.isDead(o) {
			continue
		}
		if !o.Prices.Within(ceiling) || len(o.Endpoints) == 0 {
			continue
		}
		if _, ok := nips.CommonPayment([]nips.Payment{b.payment()}, o.Payments); !ok {
			continue
		}
		if model != "" && !contains(o.Models, model) {
			continue
		}
		if cur, ok := latest[o.Address()]; !ok || o.CreatedAt > cur.CreatedAt {
			latest[o.Address()] = o
		}
	}
	scores := b.trust(ctx)
	stats, _ := b.db.Providers(ctx)
	loads := b.loads(ctx, latest)
	var out []Candidate
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, o := range latest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, pid, err := b.probe(ctx, o)
			if err != nil {
				b.log.Debug("provider unreachable", "provider", o.Pubkey, "err", err)
				return
			}
			c := Candidate{Offer: o, Trust: scores.Rank(o.Pubkey), Latency: lat, Peer: pid, Load: loads[o.Pubkey]}
			c.Score = score(o.Prices.Sum(), c.Trust, lat, stats[o.Pubkey]) * (1 + float64(c.Load)/100)
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sortCandidates(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoOffer, r)
	}
	return out, nil
}

// score ranks an offer, lower is better: the price, inflated by latency
// (x2 at 200 ms) and by the observed failure rate (up to x5), divided by
// 1 + trust rank/100 (a rank-100 provider counts at half price). Discover
// also inflates it by the provider's beaconed load (x2 at 100 %).
func score(price uint64, rank int, lat time.Duration, st state.ProviderStat) float64 {
	s := float64(max(price, 1))
	s *= 1 + float64(lat.Milliseconds())/200
	s *= 1 + 4*float64(st.Failed)/float64(st.OK+st.Failed+1)
	s /= 1 + float64(rank)/100
	return s
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// probe connects to the offer's provider and measures the time it took.
func (b *Buyer) probe(ctx context.Context, o nips.Offer) (time.Duration, peer.ID, error) {
	addrs := make([]ma.Multiaddr, 0, len(o.Endpoints))
	for _, e := range o.Endpoints {
		if a, err := ma.NewMultiaddr(e); err == nil {
			addrs = append(addrs, a)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	pid, err := b.host.Connect(cctx, o.Pubkey, addrs)
	if err != nil {
		_ = b.db.Observe(ctx, o.Pubkey, 0, false)
		return 0, "", err
	}
	lat := time.Since(start)
	if rtt := b.host.Latency(pid); rtt > 0 {
		lat = rtt
	}
	_ = b.db.Observe(ctx, o.Pubkey, max(lat, time.Millisecond), true)
	return lat, pid, nil
}

// trust computes trust ranks from the receipts and attestations on the
// relays, seen from our key and the configured seeds.
func (b *Buyer) trust(ctx context.Context) *market.Scores {
	g := market.NewTrustGraph()
	evs, err := b.relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindReceipt, nips.KindAttestation}, Limit: 5000})
	if err == nil {
		for _, ev := range evs {
			if ok, _ := ev.CheckSignature(); ok {
				_, _ = g.Apply(ev)
			}
		}
	}
	seeds := append([]string{b.pubkey}, b.cfg.Seeds...)
	return g.Compute(seeds, time.Now(), market.DefaultTrustParams())
}
