package relay

import (
	"context"
	"fmt"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip77"
)

// SyncDirection says which way Sync moves events.
type SyncDirection = nip77.Direction

// The NIP-77 sync directions.
const (
	SyncUp   SyncDirection = nip77.Up   // send what the peer lacks
	SyncDown SyncDirection = nip77.Down // fetch what we lack
	SyncBoth SyncDirection = nip77.Both
)

// Sync reconciles the events matching filter with the relay at peerURL using
// NIP-77 negentropy, so only the difference crosses the network. Events
// fetched from the peer go through the same policies as any client's, except
// rate limits and authentication, which apply to clients.
//
// Both directions run one after the other (down, then up): go-nostr's
// two-way mode interleaves the transfers on one connection and was seen to
// drop part of the upload.
func (r *Relay) Sync(ctx context.Context, peerURL string, filter nostr.Filter, dir SyncDirection) error {
	ctx = withPeer(ctx, peerURL) // what it fetches came from the peer
	dirs := []SyncDirection{dir}
	if dir == SyncBoth {
		dirs = []SyncDirection{SyncDown, SyncUp}
	}
	for _, d := range dirs {
		if err := nip77.NegentropySync(ctx, syncStore{r}, peerURL, filter, d); err != nil {
			return fmt.Errorf("sync with %s: %w", peerURL, err)
		}
	}
	return nil
}

// syncStore adapts the relay to go-nostr's RelayStore for nip77.
type syncStore struct{ r *Relay }

func (s syncStore) Publish(ctx context.Context, evt nostr.Event) error {
	err := s.r.Publish(ctx, &evt)
	if err != nil {
		s.r.log.Debug("sync: event refused", "id", evt.ID, "err", err)
	}
	return err
}

func (s syncStore) QueryEvents(ctx context.Context, f nostr.Filter) (chan *nostr.Event, error) {
	return s.r.store.QueryEvents(ctx, f)
}

func (s syncStore) QuerySync(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	ch, err := s.r.store.QueryEvents(ctx, f)
	if err != nil {
		return nil, err
	}
	var out []*nostr.Event
	for evt := range ch {
		out = append(out, evt)
	}
	return out, nil
}
