package relay

import (
	"context"
	"fmt"
	"sync"

	"github.com/nbd-wtf/go-nostr"
)

// deletionIndex answers khatru's "is this event deleted?" lookups, which it
// makes for every incoming event, without a store query in the common case.
// It holds every event id and address any stored NIP-09 deletion names: a
// superset of what is deleted, since targets are never removed. An event not
// in it cannot have a deletion; one in it goes to the store for the exact
// answer (kind, author and time checks stay the store's).
type deletionIndex struct {
	mu      sync.RWMutex
	targets map[string]struct{} // "e:<id>" and "a:<kind:pubkey:d>"
}

func newDeletionIndex() *deletionIndex {
	return &deletionIndex{targets: make(map[string]struct{})}
}

// load reads every stored deletion.
func (d *deletionIndex) load(ctx context.Context, s Store) error {
	ch, err := s.QueryEvents(ctx, nostr.Filter{Kinds: []int{nostr.KindDeletion}})
	if err != nil {
		return fmt.Errorf("load deletions: %w", err)
	}
	for evt := range ch {
		d.add(evt)
	}
	return ctx.Err()
}

// add records the targets of a deletion event (called before it is stored,
// so a lookup never misses a deletion that is already durable).
func (d *deletionIndex) add(evt *nostr.Event) {
	if evt.Kind != nostr.KindDeletion {
		return
	}
	d.mu.Lock()
	for _, tag := range evt.Tags {
		if len(tag) >= 2 && (tag[0] == "e" || tag[0] == "a") {
			d.targets[tag[0]+":"+tag[1]] = struct{}{}
		}
	}
	d.mu.Unlock()
}

// mayMatch reports whether filter f, if it is khatru's deletion lookup (kind
// 5, one e or a value, nothing else but since), can match anything. It
// returns true for any other filter.
func (d *deletionIndex) mayMatch(f nostr.Filter) bool {
	if len(f.Kinds) != 1 || f.Kinds[0] != nostr.KindDeletion || len(f.Tags) != 1 ||
		len(f.IDs) != 0 || len(f.Authors) != 0 || f.Until != nil || f.Search != "" {
		return true
	}
	for name, values := range f.Tags {
		if (name != "e" && name != "a") || len(values) != 1 {
			return true
		}
		d.mu.RLock()
		_, ok := d.targets[name+":"+values[0]]
		d.mu.RUnlock()
		return ok
	}
	return true
}
