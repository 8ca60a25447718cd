package buyer

import (
	"context"
	"errors"
	"sync"

	"github.com/sovmesh/sovmesh/agentd"
)

// ErrNoMatching means no relay of the buyer runs the market's matching
// engine (NIP-11 "matching"): an open bid would get no proposal; bid for
// named offers instead (targeted bids, the default).
var ErrNoMatching = errors.New("buyer: no relay runs matching for open bids")

// matchingRelays counts the buyer's relays that run the market's matching
// engine, read from their NIP-11 documents ("matching", relay.Info): only
// they propose fills for an open bid and end its proposals (kind 8470), so
// an open bid waits for no other. A relay whose document cannot be read
// counts (it is waited for, as for one that matches); what a relay says is
// kept for the buyer's lifetime.
func (b *Buyer) matchingRelays(ctx context.Context) int {
	urls := b.relays.URLs()
	var wg sync.WaitGroup
	for _, u := range urls {
		b.mu.Lock()
		_, known := b.matching[u]
		b.mu.Unlock()
		if known {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := agentd.RelayInfo(ctx, u)
			if err != nil {
				b.log.Info("relay's NIP-11 not read: waiting for its proposals", "relay", u, "err", err)
				return
			}
			if !info.Matching {
				b.log.Info("relay runs no matching: open bids do not wait for it", "relay", u)
			}
			b.mu.Lock()
			if b.matching == nil {
				b.matching = map[string]bool{}
			}
			b.matching[u] = info.Matching
			b.mu.Unlock()
		}()
	}
	wg.Wait()
	n := 0
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range urls {
		if m, known := b.matching[u]; !known || m {
			n++
		}
	}
	return n
}
