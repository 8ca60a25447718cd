package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/fiatjaf/eventstore"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storeerr"
)

// unionCounter is the relay's bounded NIP-45 count (relay.Store).
type unionCounter interface {
	CountUnion(ctx context.Context, filters []nostr.Filter, max int64) (int64, error)
}

// testCountUnion checks CountUnion for stores that have it: filters OR'd,
// each event counted once, limits ignored, storeerr.ErrTooMany past max.
func testCountUnion(t *testing.T, s eventstore.Store) {
	c, ok := s.(unionCounter)
	if !ok {
		t.Skip("store has no CountUnion")
	}
	// alice: three kind 1 (tagged t=x and t=y), one kind 7; bob: two kind 7.
	var all []*nostr.Event
	for i, e := range []struct {
		pk   string
		kind int
	}{{alice, 1}, {alice, 1}, {alice, 1}, {alice, 7}, {bob, 7}, {bob, 7}} {
		var tags nostr.Tags
		if e.kind == 1 {
			tags = nostr.Tags{{"t", "x"}, {"t", "y"}}
		}
		all = append(all, Event(e.kind, e.pk, 1000-int64(i), tags, ""))
	}
	SaveAll(t, s, all)
	tests := []struct {
		name    string
		filters []nostr.Filter
		max     int64
		want    int64
		tooMany bool
	}{
		{"one filter", []nostr.Filter{{Kinds: []int{7}}}, 10, 3, false},
		{"tag values counted once", []nostr.Filter{{Tags: nostr.TagMap{"t": {"x", "y"}}}}, 10, 3, false},
		{"overlap counted once", []nostr.Filter{{Kinds: []int{7}}, {Authors: []string{alice}}}, 10, 6, false},
		{"overlapping tag filters", []nostr.Filter{{Tags: nostr.TagMap{"t": {"x"}}}, {Tags: nostr.TagMap{"t": {"y"}}}}, 10, 3, false},
		{"limit ignored", []nostr.Filter{{Kinds: []int{7}, Limit: 1}}, 10, 3, false},
		{"empty list matches nothing", []nostr.Filter{{Kinds: []int{}}}, 10, 0, false},
		{"no filters", nil, 10, 0, false},
		{"at max", []nostr.Filter{{}}, 6, 6, false},
		{"one filter over max", []nostr.Filter{{}}, 5, 0, true},
		{"union over max", []nostr.Filter{{Kinds: []int{1}}, {Kinds: []int{7}}}, 5, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := c.CountUnion(t.Context(), tc.filters, tc.max)
			if tc.tooMany {
				if !errors.Is(err, storeerr.ErrTooMany) {
					t.Fatalf("got %d, %v; want storeerr.ErrTooMany", n, err)
				}
				return
			}
			if err != nil || n != tc.want {
				t.Fatalf("got %d, %v; want %d", n, err, tc.want)
			}
		})
	}
	if _, err := c.CountUnion(t.Context(), []nostr.Filter{{Tags: nostr.TagMap{"alt": {"x"}}}}, 10); !errors.Is(err, storeerr.ErrUnsupportedFilter) {
		t.Fatalf("multi-letter tag: %v, want storeerr.ErrUnsupportedFilter", err)
	}
}
