package safebox

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// Local is a local copy of signed events (agentd/state.DB): the owner's
// entries, still encrypted, so that its files are listed and readable when
// no relay answers.
type Local interface {
	KeepEvent(ctx context.Context, ev *nostr.Event) error
	ForgetEvent(ctx context.Context, kind int, pubkey, dTag string) error
	CachedEvents(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error)
}

// SetLocal makes the box keep every entry it writes or reads from the
// relays in l, and read l beside the relays. Call it before use.
func (b *Box) SetLocal(l Local) { b.local = l }

// Listed is one entry and where it was found.
type Listed struct {
	Entry
	OnRelays bool // a relay returned it
	Cached   bool // the local cache holds it
}

// Source names where the entry was found: "relay", "cache" or
// "relay+cache".
func (l Listed) Source() string {
	switch {
	case !l.Cached:
		return "relay"
	case !l.OnRelays:
		return "cache"
	}
	return "relay+cache"
}

// Listing is what ListSources found. RelayErr is why the relays did not
// answer (nil when at least one did).
type Listing struct {
	Entries  []Listed
	RelayErr error
}

// ListSources lists the owner's entries on the relays merged with the
// local cache, the newest of each file kept, each marked with where it was
// found. Entries the relays returned are kept in the cache. The relays
// are given relayWait (0: ctx's deadline). It fails only when the relays
// do not answer and there is no cache.
func (b *Box) ListSources(ctx context.Context, relayWait time.Duration) (Listing, error) {
	f := nostr.Filter{Kinds: []int{nips.KindSafeBox}, Authors: []string{b.pk}}
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if relayWait > 0 {
		rctx, cancel = context.WithTimeout(ctx, relayWait)
	}
	evs, relayErr := b.relays.Query(rctx, f)
	cancel()
	if relayErr != nil && b.local == nil {
		return Listing{}, fmt.Errorf("safebox: %w", relayErr)
	}
	type best struct {
		Listed
		at nostr.Timestamp
		ev *nostr.Event
	}
	byRoot := map[string]*best{}
	// take keeps the newest entry of each root among evs, marking where
	// it was seen.
	take := func(evs []*nostr.Event, seen func(*best)) {
		for _, ev := range evs {
			e, err := b.open(ev)
			if err != nil {
				continue
			}
			cur := byRoot[e.Root]
			if cur == nil {
				cur = &best{}
				byRoot[e.Root] = cur
			}
			seen(cur)
			if cur.ev == nil || ev.CreatedAt > cur.at {
				cur.Entry, cur.at, cur.ev = e, ev.CreatedAt, ev
			}
		}
	}
	take(evs, func(c *best) { c.OnRelays = true })
	var cacheErr error
	if b.local != nil {
		cached, err := b.local.CachedEvents(ctx, f)
		cacheErr = err
		take(cached, func(c *best) { c.Cached = true })
	}
	// Kept after the cache was read: Cached says what this machine held.
	for _, cur := range byRoot {
		if cur.OnRelays {
			b.keep(ctx, cur.ev)
		}
	}
	if relayErr != nil && cacheErr != nil {
		return Listing{}, fmt.Errorf("safebox: %w", errors.Join(relayErr, cacheErr))
	}
	out := Listing{RelayErr: relayErr}
	for _, cur := range byRoot {
		out.Entries = append(out.Entries, cur.Listed)
	}
	sort.Slice(out.Entries, func(i, j int) bool {
		a, c := out.Entries[i], out.Entries[j]
		if a.Created != c.Created {
			return a.Created > c.Created
		}
		return a.Root < c.Root
	})
	return out, nil
}

// keep caches ev (already opened and checked by open); a failure only
// costs the offline copy.
func (b *Box) keep(ctx context.Context, ev *nostr.Event) {
	if b.local != nil && ev != nil {
		_ = b.local.KeepEvent(ctx, ev)
	}
}

// cached returns the cached events matching f (none without a cache).
func (b *Box) cached(ctx context.Context, f nostr.Filter) []*nostr.Event {
	if b.local == nil {
		return nil
	}
	evs, _ := b.local.CachedEvents(ctx, f)
	return evs
}

// nextCreatedAt is the created_at of a new entry at address d: now, or one
// second past the newest cached one when that is not older, so that the new
// entry always replaces it (an addressable event with an equal created_at
// may lose to the older one, NIP-01).
func (b *Box) nextCreatedAt(ctx context.Context, d string) nostr.Timestamp {
	now := nostr.Now()
	for _, ev := range b.cached(ctx, nostr.Filter{Kinds: []int{nips.KindSafeBox}, Authors: []string{b.pk}, Tags: nostr.TagMap{"d": {d}}}) {
		if ev.CreatedAt >= now {
			now = ev.CreatedAt + 1
		}
	}
	return now
}
