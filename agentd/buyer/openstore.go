package buyer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sovmesh/sovmesh/nips"
)

// openStorageBid opens the storage sessions of a new put of size bytes
// with one open bid (Config.OpenBids): Replicas replicas of one provider's
// share, GiB each, as quantity Replicas x share with min_fill = max_fill =
// share, so each fill the relays' engines propose is one replica and, as a
// provider confirms one fill of a bid, the replicas land on different
// providers. Of the providers' matches the best Replicas by the buyer's
// own ranking are kept and the others declined (see openBid). A put with
// fewer confirmed matches than --min-providers fails with
// ErrTooFewProviders, as with targeted bids, and declines those it got;
// so does a put whose kept matches the wallet or the budgets cannot cover
// (ErrCannotAfford). No targeted bid tops an open bid up.
func (b *Buyer) openStorageBid(ctx context.Context, size int64) ([]*Session, error) {
	n := b.cfg.Replicas
	gib := max((sharePerProvider(size, n)+1<<30-1)>>30, 1)
	bid, kept, err := b.openBid(ctx, nips.Bid{Resource: nips.Storage, Quantity: uint64(n) * gib, MinFill: gib, MaxFill: gib,
		Duration: uint64(b.cfg.StorageDuration / time.Second)}, n, b.cfg.MinProviders)
	if errors.Is(err, ErrNoMatch) {
		return nil, fmt.Errorf("%w: no storage provider confirmed the open bid, --min-providers is %d: %v", ErrTooFewProviders, b.cfg.MinProviders, err)
	}
	if err != nil {
		return nil, err
	}
	drop := func() {
		for _, k := range kept {
			b.decline(ctx, bid, k.m, "put abandoned")
		}
	}
	// With fewer providers each stores a larger share: it must fit what
	// each match bought.
	if len(kept) < b.cfg.MinProviders || sharePerProvider(size, len(kept)) > gib<<30 {
		drop()
		return nil, fmt.Errorf("%w: %d storage providers confirmed the open bid for %d replicas, --min-providers is %d", ErrTooFewProviders, len(kept), n, b.cfg.MinProviders)
	}
	offers := make([]nips.Offer, len(kept))
	for i, k := range kept {
		if k.m.Quantity != gib {
			drop()
			return nil, fmt.Errorf("%w: %s confirmed %d GiB of a %d GiB replica", ErrNoMatch, k.m.Provider, k.m.Quantity, gib)
		}
		offers[i] = k.c.Offer
		offers[i].Prices = k.m.Prices
	}
	// Know the cost first, at the prices the providers signed: nothing is
	// sent that the wallet or the budgets cannot cover.
	if err := b.afford(ctx, b.quoteFor(size, offers)); err != nil {
		drop()
		return nil, err
	}
	sessions := make([]*Session, 0, len(kept))
	for i, k := range kept {
		s, err := b.record(ctx, k.m, k.c.Offer, k.c.Peer, k.c.Latency)
		if err != nil {
			for _, s := range sessions {
				b.finishFailed(ctx, s)
			}
			for _, k := range kept[i:] {
				b.decline(ctx, bid, k.m, "put abandoned")
			}
			return nil, err
		}
		sessions = append(sessions, s)
	}
	return sessions, nil
}
