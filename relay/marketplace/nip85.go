package marketplace

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
)

// maxAssertionsPerRound bounds the NIP-85 assertions one trust round
// publishes; the rest follow in later rounds.
const maxAssertionsPerRound = 1000

// publishAssertions publishes a NIP-85 assertion (nips.UserAssertion)
// about each key whose rank differs from the one last asserted, best ranks
// first, at most maxAssertionsPerRound. It runs in the trust round's
// goroutine, which owns m.asserted.
func (m *Marketplace) publishAssertions(ctx context.Context, scores *market.Scores) {
	type change struct {
		pubkey string
		rank   int
	}
	var changes []change
	seen := make(map[string]bool)
	for _, k := range scores.Top(math.MaxInt) {
		seen[k.Pubkey] = true
		if r, ok := m.asserted[k.Pubkey]; !ok || r != k.Rank {
			changes = append(changes, change{k.Pubkey, k.Rank})
		}
	}
	for k, r := range m.asserted {
		if !seen[k] && r != 0 {
			changes = append(changes, change{k, 0})
		}
	}
	slices.SortFunc(changes, func(a, b change) int { return cmp.Or(cmp.Compare(b.rank, a.rank), cmp.Compare(a.pubkey, b.pubkey)) })
	self := m.r.PublicKey()
	now := nostr.Timestamp(m.now().Unix())
	published := 0
	for _, c := range changes {
		if published == maxAssertionsPerRound || ctx.Err() != nil {
			break
		}
		if c.pubkey == self {
			continue
		}
		evt := nips.UserAssertion{Subject: c.pubkey, Rank: c.rank}.ToEvent(now)
		if err := m.r.Sign(&evt); err != nil {
			m.log.Warn("trust assertion not signed", "subject", c.pubkey, "err", err)
			return
		}
		if err := m.r.Publish(ctx, &evt); err != nil {
			m.log.Warn("trust assertion not published", "subject", c.pubkey, "err", err)
			continue
		}
		m.asserted[c.pubkey] = c.rank
		published++
	}
	if published > 0 {
		m.log.Debug("trust assertions published", "count", published, "pending", len(changes)-published)
	}
}
