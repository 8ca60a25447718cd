package buyer

import (
	"context"
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
func (b *Buyer) candidates(ctx context.Context, r nips.Resource, model string) ([]Candidate, error) {
	if b.cfg.OpenBids && r != nips.Storage {
		return b.openCandidates(ctx, r, model)
	}
	key := string(r) + "/" + model
	b.mu.Lock()
	if b.cache == nil {
		b.cache = map[string]cached{}
	}
	c, ok := b.cache[key]
	b.mu.Unlock()
	if !ok || time.Since(c.at) > candidateTTL {
		cands, err := b.Discover(ctx, r, model)
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
		return b.Discover(ctx, r, model)
	}
	return out, nil
}
