package buyer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sovmesh/sovmesh/nips"
)

// candidateTTL is how long a discovery result is reused.
const candidateTTL = 30 * time.Second

type cached struct {
	at    time.Time
	cands []Candidate
}

// candidates returns ranked offers, from a short-lived cache, without
// the providers marked dead. With Config.OpenBids it returns the provider
// of the open session for r that an open bid found (see openCandidates).
// For inference, Config.InferenceSources adds Routstr providers to the
// offers, or puts them in their place.
func (b *Buyer) candidates(ctx context.Context, r nips.Resource, model string) ([]Candidate, error) {
	if r != nips.Inference || b.cfg.InferenceSources == SourcesMarket {
		return b.marketCandidates(ctx, r, model)
	}
	var out []Candidate
	if b.cfg.InferenceSources == SourcesAll {
		cands, err := b.marketCandidates(ctx, r, model)
		if err != nil && !errors.Is(err, ErrNoOffer) {
			return nil, err
		}
		out = append(out, cands...)
	}
	cands, err := b.cached(ctx, "routstr/"+model, func(ctx context.Context) ([]Candidate, error) { return b.routstrCandidates(ctx, model) })
	if err != nil {
		return nil, err
	}
	out = append(out, cands...)
	if len(out) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoOffer, r)
	}
	sortCandidates(out)
	return out, nil
}

// marketCandidates returns the ranked sovmesh offers for r.
func (b *Buyer) marketCandidates(ctx context.Context, r nips.Resource, model string) ([]Candidate, error) {
	if b.cfg.OpenBids && r != nips.Storage {
		return b.openCandidates(ctx, r, model)
	}
	return b.cached(ctx, string(r)+"/"+model, func(ctx context.Context) ([]Candidate, error) { return b.Discover(ctx, r, model) })
}

// cached returns discover's candidates from the cache under key (fresh for
// candidateTTL), without those marked dead; with none left it discovers
// again.
func (b *Buyer) cached(ctx context.Context, key string, discover func(context.Context) ([]Candidate, error)) ([]Candidate, error) {
	b.mu.Lock()
	if b.cache == nil {
		b.cache = map[string]cached{}
	}
	c, ok := b.cache[key]
	b.mu.Unlock()
	if !ok || time.Since(c.at) > candidateTTL {
		cands, err := discover(ctx)
		if err != nil {
			return nil, err
		}
		c = cached{at: time.Now(), cands: cands}
		b.mu.Lock()
		b.cache[key] = c
		b.mu.Unlock()
	}
	var out []Candidate
	for _, x := range c.cands {
		if !b.isDead(x.Offer) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		b.mu.Lock()
		delete(b.cache, key)
		b.mu.Unlock()
		return discover(ctx)
	}
	return out, nil
}
