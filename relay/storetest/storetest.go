// Package storetest is the shared test suite for event stores
// (eventstore.Store, and eventstore.Counter when implemented): every filter
// field with go-nostr's Filter.Matches semantics, tag exactness, ordering
// (created_at DESC, id ASC), limits, replaceable and addressable replacement,
// deletion, duplicates, NIP-40 expiration, a randomized comparison against
// brute-force matching, and the relay's bounded CountUnion when implemented.
//
// Events are built with random 64-hex ids and are not signed: a store keeps
// what the relay verified and does not check signatures.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip40"
)

// Run runs the suite. open returns a new, empty store for each subtest; Run
// closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) eventstore.Store) {
	t.Helper()
	mk := func(t *testing.T) eventstore.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(s.Close)
		return s
	}
	t.Run("Filters", func(t *testing.T) { testFilters(t, mk(t)) })
	t.Run("TagExactness", func(t *testing.T) { testTagExactness(t, mk(t)) })
	t.Run("OrderAndTies", func(t *testing.T) { testOrder(t, mk(t)) })
	t.Run("NoLimit", func(t *testing.T) { testNoLimit(t, mk(t)) })
	t.Run("LargeLists", func(t *testing.T) { testLargeLists(t, mk(t)) })
	t.Run("Duplicates", func(t *testing.T) { testDuplicates(t, mk(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, mk(t)) })
	t.Run("Replaceable", func(t *testing.T) { testReplaceable(t, mk(t)) })
	t.Run("Addressable", func(t *testing.T) { testAddressable(t, mk(t)) })
	t.Run("Expiration", func(t *testing.T) { testExpiration(t, mk(t)) })
	t.Run("MultiLetterTag", func(t *testing.T) { testMultiLetterTag(t, mk(t)) })
	t.Run("CancelStopsQuery", func(t *testing.T) { testCancel(t, mk(t)) })
	t.Run("Randomized", func(t *testing.T) { testRandomized(t, mk(t)) })
	t.Run("CountUnion", func(t *testing.T) { testCountUnion(t, mk(t)) })
}

// Event builds an unsigned event with a random id.
func Event(kind int, pubkey string, createdAt int64, tags nostr.Tags, content string) *nostr.Event {
	return &nostr.Event{
		ID:        RandomHex(),
		PubKey:    pubkey,
		CreatedAt: nostr.Timestamp(createdAt),
		Kind:      kind,
		Tags:      tags,
		Content:   content,
		Sig:       strings.Repeat("0", 128),
	}
}

// RandomHex returns 32 random bytes in lowercase hex.
func RandomHex() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Expected is the brute-force answer: events that Filter.Matches and that
// have not expired at now, ordered by created_at DESC then id ASC, cut to
// f.Limit when it is positive.
func Expected(events []*nostr.Event, f nostr.Filter, now int64) []*nostr.Event {
	var out []*nostr.Event
	for _, e := range events {
		if f.Matches(e) && !Expired(e, now) {
			out = append(out, e)
		}
	}
	SortEvents(out)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// Expired reports whether e's NIP-40 expiration is at or before now.
func Expired(e *nostr.Event, now int64) bool {
	exp := nip40.GetExpiration(e.Tags)
	return exp != -1 && int64(exp) <= now
}

// SortEvents orders events by created_at DESC, then id ASC.
func SortEvents(evs []*nostr.Event) {
	slices.SortFunc(evs, func(a, b *nostr.Event) int {
		if a.CreatedAt != b.CreatedAt {
			if a.CreatedAt > b.CreatedAt {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Query collects the answer to f.
func Query(t testing.TB, s eventstore.Store, f nostr.Filter) []*nostr.Event {
	t.Helper()
	evs, err := tryQuery(t.Context(), s, f)
	if err != nil {
		t.Fatalf("QueryEvents(%s): %v", f, err)
	}
	return evs
}

func tryQuery(ctx context.Context, s eventstore.Store, f nostr.Filter) ([]*nostr.Event, error) {
	ch, err := s.QueryEvents(ctx, f)
	if err != nil {
		return nil, err
	}
	var out []*nostr.Event
	for e := range ch {
		out = append(out, e)
	}
	return out, nil
}

// SaveAll saves events with a few concurrent writers (so stores that commit
// in groups fill quickly) and fails the test on any error.
func SaveAll(t testing.TB, s eventstore.Store, events []*nostr.Event) {
	t.Helper()
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, len(events))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(events); i += workers {
				if err := s.SaveEvent(context.Background(), events[i]); err != nil {
					errs <- fmt.Errorf("save %s: %w", events[i].ID, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Same fails the test unless got and want hold the same ids in the same order.
func Same(t testing.TB, what string, got, want []*nostr.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events, want %d\n got: %s\nwant: %s", what, len(got), len(want), ids(got), ids(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID {
			t.Fatalf("%s: event %d is %s, want %s\n got: %s\nwant: %s", what, i, got[i].ID, want[i].ID, ids(got), ids(want))
		}
		if got[i].String() != want[i].String() {
			t.Fatalf("%s: event %s changed in the store:\n got: %s\nwant: %s", what, got[i].ID, got[i], want[i])
		}
	}
}

func ids(evs []*nostr.Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == 12 {
			fmt.Fprintf(&b, "... (%d)", len(evs))
			break
		}
		fmt.Fprintf(&b, "%s@%d", e.ID[:8], e.CreatedAt)
	}
	return b.String()
}

func count(t *testing.T, s eventstore.Store, f nostr.Filter) (int64, bool) {
	t.Helper()
	c, ok := s.(eventstore.Counter)
	if !ok {
		return 0, false
	}
	n, err := c.CountEvents(t.Context(), f)
	if err != nil {
		t.Fatalf("CountEvents(%s): %v", f, err)
	}
	return n, true
}

// check compares the store's answer (and count) for f with brute force.
func check(t *testing.T, s eventstore.Store, all []*nostr.Event, name string, f nostr.Filter) {
	t.Helper()
	now := time.Now().Unix()
	want := Expected(all, f, now)
	Same(t, name, Query(t, s, f), want)
	unlimited := f
	unlimited.Limit = 0
	if n, ok := count(t, s, f); ok {
		if w := len(Expected(all, unlimited, now)); n != int64(w) {
			t.Fatalf("%s: count %d, want %d", name, n, w)
		}
	}
}

func ts(v int64) *nostr.Timestamp { t := nostr.Timestamp(v); return &t }

func isDup(err error) bool { return errors.Is(err, eventstore.ErrDupEvent) }

func pick[T any](r *mrand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }
